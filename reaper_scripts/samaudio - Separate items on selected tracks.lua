-- samaudio - Separate items on selected tracks
--
-- Like "samaudio - Separate selected items", for every item on the selected tracks;
-- with a time selection, only the items that overlap it. Each track's name says what
-- to pull out ("Drums [drum-kit]", "Dialog {the man speaking}"), or the script asks.
-- The stems come back as a folder of tracks under each source track, in one undo step.

local source = debug.getinfo(1, "S").source
local folder = source:match("^@(.*)[/\\]") or "."
local samaudio = dofile(folder .. package.config:sub(1, 1) .. "samaudio_lib.lua")

samaudio.separate.run(folder, "tracks")
