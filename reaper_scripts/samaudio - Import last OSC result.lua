-- samaudio - Import last OSC result
--
-- Imports the stems of the job `samaudio-daw serve` finished last, without a dialog:
-- the server writes that job's result manifest to its done file (--done-file) and then
-- sends REAPER this action (--on-done-action). The same job is imported only once.
-- The done file is the one `samaudio-daw reaper install --done-file` configured, else
-- the server's default, <temp>/samaudio-daw/last-result.json.

local source = debug.getinfo(1, "S").source
local folder = source:match("^@(.*)[/\\]") or "."
local samaudio = dofile(folder .. package.config:sub(1, 1) .. "samaudio_lib.lua")

samaudio.import.run_last_osc_result(folder)
