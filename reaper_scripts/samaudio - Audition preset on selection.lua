-- samaudio - Audition preset on selection
--
-- Tries what the tracks ask for (their [preset] tag or {prompts}; otherwise the script
-- asks) on a short part before a long separation: the time selection, or the first
-- 20 s of each selected item. The stems come back in a temporary folder
-- "AUDITION – <preset>" at the end of the project, which the next audition or
-- "Discard audition" removes in one undo step; "Commit audition" runs the full
-- separation with the same settings. The console says how long the audition took and
-- what the full separation would take. The job is queued (REAPER stays usable).

local source = debug.getinfo(1, "S").source
local folder = source:match("^@(.*)[/\\]") or "."
local samaudio = dofile(folder .. package.config:sub(1, 1) .. "samaudio_lib.lua")

samaudio.audition.run(folder)
