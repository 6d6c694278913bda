-- samaudio - Import stems from result
--
-- Imports the stems listed in a result manifest (result.json) written by
-- `samaudio-daw render`, `samaudio-daw run` or the OSC server: a folder "<track> stems"
-- under each source track (found by its GUID, else by its name; at the end of the
-- project if it is gone), each stem item at its original position, with the original
-- item's fades and volume when that item still exists. One undo step.

local source = debug.getinfo(1, "S").source
local folder = source:match("^@(.*)[/\\]") or "."
local samaudio = dofile(folder .. package.config:sub(1, 1) .. "samaudio_lib.lua")

samaudio.import.choose_and_run()
