-- samaudio - Commit audition
--
-- Separates the auditioned items in full with the same settings as the last audition,
-- queued like "Separate selected items"; the queue window shows the audition's
-- estimate until the job starts. The stems come back as Separate's do. The queue's
-- samaudio-daw process keeps the model it loaded for the audition, so the commit does
-- not load it again.

local source = debug.getinfo(1, "S").source
local folder = source:match("^@(.*)[/\\]") or "."
local samaudio = dofile(folder .. package.config:sub(1, 1) .. "samaudio_lib.lua")

samaudio.audition.commit(folder)
