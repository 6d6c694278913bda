-- samaudio - Separate selected items
--
-- Separates each selected item with samaudio-daw. What to pull out comes from the
-- item's track name: a preset tag ("Vox [lead-vocal]") or inline prompts
-- ("Field rec {the owl hooting}"); for other tracks the script asks. The run happens
-- in the background (REAPER stays usable; Cancel stops it). The stems come back in a
-- folder "<track> stems" right under each source track, one track per stem, each item
-- where the original was, with its fades and volume; the source track is muted. One
-- undo step. Needs `samaudio-daw reaper install` once (see README.md).

local source = debug.getinfo(1, "S").source
local folder = source:match("^@(.*)[/\\]") or "."
local samaudio = dofile(folder .. package.config:sub(1, 1) .. "samaudio_lib.lua")

samaudio.separate.run(folder, "items")
