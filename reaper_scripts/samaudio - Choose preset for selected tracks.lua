-- samaudio - Choose preset for selected tracks
--
-- Shows the presets samaudio-daw knows (`samaudio-daw presets list --json`) in a menu
-- and writes the chosen one into each selected track's name as a tag, replacing any
-- earlier [tag] or {prompt}: "Vox" becomes "Vox [lead-vocal]". "Clear preset tag"
-- removes them. One undo step.

local source = debug.getinfo(1, "S").source
local folder = source:match("^@(.*)[/\\]") or "."
local samaudio = dofile(folder .. package.config:sub(1, 1) .. "samaudio_lib.lua")

samaudio.presets.choose(folder)
