--[[
driver.lua: run one REAPER script under the emulation.

    lua5.4 driver.lua SCENARIO.lua

SCENARIO.lua returns a table (see reaper_emu.lua's emu.setup): the project, the
user's answers, input events, the script to run and where to write the JSON dump.
]]

local here = debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or "."
package.path = here .. "/?.lua;" .. package.path

local emu = require("reaper_emu")
local scenario = dofile(assert(arg[1], "usage: lua5.4 driver.lua SCENARIO.lua"))

emu.setup(scenario)
if scenario.prelude then
  -- Lua code run before the script (lib unit tests use it to load the library).
  local chunk = assert(load(scenario.prelude, "prelude"))
  local ok, err = xpcall(chunk, debug.traceback)
  if not ok then io.stderr:write(err, "\n") os.exit(1) end
end
if scenario.script then emu.run_script(scenario.script) end
-- More actions: each {script = file, cycle = n} starts at that cycle of the defer loop
-- (while earlier ones still run); without a cycle, once everything before it has ended.
emu.loop(scenario.scripts)
emu.write_dump(assert(scenario.dump, "scenario.dump: where to write the result"))
