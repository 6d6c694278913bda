-- samaudio - Discard audition
--
-- Removes the temporary "AUDITION – <preset>" folder and its stem tracks, in one undo
-- step. The original items are not touched.

local source = debug.getinfo(1, "S").source
local folder = source:match("^@(.*)[/\\]") or "."
local samaudio = dofile(folder .. package.config:sub(1, 1) .. "samaudio_lib.lua")

samaudio.audition.discard()
