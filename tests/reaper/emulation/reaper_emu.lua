--[[
reaper_emu.lua: a small, strict stand-in for REAPER's Lua ReaScript API, for tests.

Only functions that exist in REAPER 7's ReaScript API are provided, each with its
documented Lua argument list (types and count are checked); any other reaper.* or
gfx.* name raises an error, and so do real parameter names this emulation does not
model. Behind the API is an in-memory project (tracks with folder depths, items,
takes, sources read from real WAV files), a record of undo blocks, dialogs and
console output, a defer loop on a simulated clock, and ExecProcess running real
commands. A test describes the project and the user's answers in a scenario table,
runs a script, and reads back a JSON dump of what happened.

What is not modelled: resampling or channel mapping in audio accessors, play rates
other than 1 in accessors, take FX processing, ExecProcess timeouts, and REAPER's
own undo (blocks are recorded, not undoable).
]]

local emu = {}
local S -- the current state (one scenario per process)

---------------------------------------------------------------------------
-- A JSON encoder for the dump (kept apart from the code under test)
---------------------------------------------------------------------------

local ARRAY = {}

local function as_array(t)
  return setmetatable(t, ARRAY)
end

local function encode(value)
  local kind = type(value)
  if value == nil then return "null" end
  if kind == "boolean" then return tostring(value) end
  if kind == "number" then
    if math.type(value) == "integer" then return string.format("%d", value) end
    if value ~= value or value == math.huge or value == -math.huge then return "null" end
    return string.format("%.17g", value)
  end
  if kind == "string" then
    return '"' .. value:gsub('[%c"\\]', function(c)
      return string.format("\\u%04x", c:byte())
    end) .. '"'
  end
  if kind == "table" then
    local parts = {}
    if getmetatable(value) == ARRAY then
      for i = 1, #value do parts[i] = encode(value[i]) end
      return "[" .. table.concat(parts, ",") .. "]"
    end
    local keys = {}
    for key in pairs(value) do keys[#keys + 1] = tostring(key) end
    table.sort(keys)
    for i, key in ipairs(keys) do parts[i] = encode(key) .. ":" .. encode(value[key]) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  return encode(tostring(value))
end
emu.encode_json = encode

---------------------------------------------------------------------------
-- WAV files behind PCM sources
---------------------------------------------------------------------------

local function read_wav(file)
  local handle = io.open(file, "rb")
  if not handle then return nil end
  local data = handle:read("a")
  handle:close()
  if data:sub(1, 4) ~= "RIFF" or data:sub(9, 12) ~= "WAVE" then return nil end
  local wav, pos = {}, 13
  while pos + 8 <= #data + 1 do
    local id, size = data:sub(pos, pos + 3), string.unpack("<I4", data, pos + 4)
    if id == "fmt " then
      local tag, channels, rate, _, _, bits = string.unpack("<I2I2I4I4I2I2", data, pos + 8)
      if tag == 0xFFFE then tag = string.unpack("<I2", data, pos + 32) end
      wav.tag, wav.channels, wav.rate, wav.bits = tag, channels, rate, bits
    elseif id == "data" then
      wav.offset, wav.bytes = pos + 8, math.min(size, #data - pos - 7)
    end
    pos = pos + 8 + size + size % 2
  end
  if not (wav.tag and wav.offset) then return nil end
  if not ((wav.tag == 3 and wav.bits == 32) or (wav.tag == 1 and (wav.bits == 16 or wav.bits == 24))) then
    error("emulation: WAV format " .. wav.tag .. "/" .. wav.bits .. " bits not emulated: " .. file)
  end
  wav.data, wav.file = data, file
  wav.frames = wav.bytes // (wav.channels * wav.bits // 8)
  return wav
end

local function wav_sample(wav, frame, channel)
  local width = wav.bits // 8
  local at = wav.offset + (frame * wav.channels + channel) * width
  if wav.tag == 3 then return (string.unpack("<f", wav.data, at)) end
  if wav.bits == 16 then return string.unpack("<i2", wav.data, at) / 32768 end
  return string.unpack("<i3", wav.data, at) / 8388608
end

---------------------------------------------------------------------------
-- Handles and argument checks
---------------------------------------------------------------------------

local HANDLE_KINDS = {
  MediaTrack = true, MediaItem = true, MediaItem_Take = true, PCM_source = true,
  AudioAccessor = true, ReaProject = true,
}

local function new_handle(kind, fields)
  fields.kind = kind
  return setmetatable(fields, { __name = kind, __tostring = function() return kind end })
end

local function is_kind(value, kind)
  if kind == "ReaProject" then
    return value == nil or value == 0 or value == S.project
  end
  if HANDLE_KINDS[kind] then return type(value) == "table" and value.kind == kind and not value.deleted end
  if kind == "integer" then return math.type(value) == "integer" or (type(value) == "number" and value == math.floor(value)) end
  if kind == "reaper.array" then return type(value) == "table" and getmetatable(value) == emu.ARRAY_MT end
  return type(value) == kind
end

local function check_args(name, spec, count, ...)
  local required = 0
  for i, kind in ipairs(spec) do
    if kind:sub(-1) ~= "?" then required = i end
  end
  if count > #spec then
    error(string.format("reaper.%s takes %d argument(s), got %d", name, #spec, count), 3)
  end
  if count < required then
    error(string.format("reaper.%s needs %d argument(s), got %d", name, required, count), 3)
  end
  for i = 1, count do
    local kind = spec[i]:gsub("%?$", "")
    local value = select(i, ...)
    local optional = spec[i]:sub(-1) == "?"
    if not (optional and value == nil) and not is_kind(value, kind) then
      error(string.format("reaper.%s argument %d must be %s, got %s", name, i, kind,
        type(value) == "table" and (value.kind or "table") or type(value)), 3)
    end
  end
end

local API = {}

local function define(name, spec, impl)
  API[name] = function(...)
    check_args(name, spec, select("#", ...), ...)
    S.calls[name] = (S.calls[name] or 0) + 1
    return impl(...)
  end
end

local function changed(what)
  S.changes = S.changes + 1
  if S.undo_depth == 0 then
    S.changes_outside_undo[#S.changes_outside_undo + 1] = what
  end
end

local function not_emulated(what)
  error("emulation: " .. what .. " is real REAPER API but not emulated", 3)
end

---------------------------------------------------------------------------
-- The project model
---------------------------------------------------------------------------

local function new_guid()
  S.guid_counter = S.guid_counter + 1
  local n = S.guid_counter
  return string.format("{%08X-0000-4000-8000-%012X}", n, n)
end

local TRACK_VALUES = {
  B_MUTE = "bool", I_FOLDERDEPTH = "int", I_SELECTED = "int", I_CUSTOMCOLOR = "int",
  IP_TRACKNUMBER = "read-only",
}
local TRACK_REAL_UNMODELLED = {
  "B_PHASE", "I_SOLO", "I_FXEN", "I_RECARM", "I_NCHAN", "I_FOLDERCOMPACT", "D_VOL", "D_PAN",
  "D_WIDTH", "B_SHOWINMIXER", "B_SHOWINTCP", "B_MAINSEND", "I_HEIGHTOVERRIDE",
}
local ITEM_DEFAULTS = {
  B_MUTE = 0, B_LOOPSRC = 1, B_UISEL = 0, D_VOL = 1.0, D_POSITION = 0.0, D_LENGTH = 0.0,
  D_SNAPOFFSET = 0.0, D_FADEINLEN = 0.0, D_FADEOUTLEN = 0.0, D_FADEINDIR = 0.0,
  D_FADEOUTDIR = 0.0, D_FADEINLEN_AUTO = -1.0, D_FADEOUTLEN_AUTO = -1.0, C_FADEINSHAPE = 0,
  C_FADEOUTSHAPE = 0, I_CURTAKE = 0,
}
local ITEM_REAL_UNMODELLED = {
  "B_MUTE_ACTUAL", "C_MUTE_SOLO", "B_ALLTAKESPLAY", "C_BEATATTACHMODE", "C_AUTOSTRETCH", "C_LOCK",
  "I_GROUPID", "I_LASTY", "I_LASTH", "I_CUSTOMCOLOR", "IP_ITEMNUMBER", "F_FREEMODE_Y", "F_FREEMODE_H",
}
local TAKE_DEFAULTS = {
  D_STARTOFFS = 0.0, D_VOL = 1.0, D_PAN = 0.0, D_PANLAW = -1.0, D_PLAYRATE = 1.0, D_PITCH = 0.0,
  B_PPITCH = 0, I_CHANMODE = 0, I_CUSTOMCOLOR = 0,
}
local TAKE_REAL_UNMODELLED = { "I_PITCHMODE", "IP_TAKENUMBER" }

local function in_list(list, value)
  for _, entry in ipairs(list) do if entry == value then return true end end
  return false
end

local function copy(t)
  local result = {}
  for key, value in pairs(t or {}) do result[key] = value end
  return result
end

local function new_track(spec)
  return new_handle("MediaTrack", {
    name = spec.name or "", guid = spec.guid or new_guid(), depth = spec.depth or 0,
    mute = spec.mute and 1 or 0, selected = spec.selected and 1 or 0, items = {},
    color = spec.color or 0,
  })
end

local function new_source(file, midi)
  if midi then return new_handle("PCM_source", { midi = true, file = "" }) end
  local wav = read_wav(file)
  if not wav then return nil end
  return new_handle("PCM_source", { file = file, wav = wav })
end

local function new_take(item, spec)
  local take = new_handle("MediaItem_Take", {
    item = item, name = spec.name or "", guid = spec.guid or new_guid(),
    values = copy(TAKE_DEFAULTS), fx = spec.fx or 0,
  })
  for key, value in pairs(spec.values or {}) do take.values[key] = value end
  if spec.file or spec.midi then
    take.source = new_source(spec.file, spec.midi)
    if not take.source then error("scenario: cannot read " .. tostring(spec.file)) end
  end
  return take
end

local function new_item(track, spec)
  local item = new_handle("MediaItem", {
    track = track, guid = spec.guid or new_guid(), values = copy(ITEM_DEFAULTS), takes = {},
  })
  for key, value in pairs(spec.values or {}) do item.values[key] = value end
  if spec.selected then item.values.B_UISEL = 1 end
  for _, take_spec in ipairs(spec.takes or {}) do item.takes[#item.takes + 1] = new_take(item, take_spec) end
  return item
end

local function track_index(track)
  for i, t in ipairs(S.tracks) do if t == track then return i end end
  return nil
end

local function all_items()
  local list = {}
  for _, track in ipairs(S.tracks) do
    for _, item in ipairs(track.items) do list[#list + 1] = item end
  end
  return list
end

---------------------------------------------------------------------------
-- reaper.* : project, tracks, items, takes
---------------------------------------------------------------------------

define("EnumProjects", { "integer" }, function(idx)
  if idx == -1 or idx == 0 then return S.project, S.project_file end
  return nil
end)
define("GetProjectPath", {}, function() return S.media_path end)
define("GetResourcePath", {}, function() return S.resource_path end)
define("CountTracks", { "ReaProject" }, function() return #S.tracks end)
define("GetTrack", { "ReaProject", "integer" }, function(_, idx) return S.tracks[idx + 1] end)

define("InsertTrackAtIndex", { "integer", "boolean" }, function(idx)
  idx = math.max(0, math.min(idx, #S.tracks))
  table.insert(S.tracks, idx + 1, new_track({}))
  changed("InsertTrackAtIndex")
end)

define("DeleteTrack", { "MediaTrack" }, function(track)
  for i, t in ipairs(S.tracks) do
    if t == track then table.remove(S.tracks, i) changed("DeleteTrack") return end
  end
  error("DeleteTrack: no such track", 2)
end)

define("GetTrackGUID", { "MediaTrack" }, function(track) return track.guid end)

define("GetSetMediaTrackInfo_String", { "MediaTrack", "string", "string", "boolean" },
  function(track, parm, value, set)
    if parm == "P_NAME" then
      if set then track.name = value changed("track P_NAME") end
      return true, track.name
    end
    if parm == "GUID" and not set then return true, track.guid end
    if parm:match("^P_") or parm == "GUID" then not_emulated("track string " .. parm) end
    return false, ""
  end)

define("GetMediaTrackInfo_Value", { "MediaTrack", "string" }, function(track, parm)
  if parm == "B_MUTE" then return track.mute end
  if parm == "I_FOLDERDEPTH" then return track.depth end
  if parm == "I_SELECTED" then return track.selected end
  if parm == "I_CUSTOMCOLOR" then return track.color end
  if parm == "IP_TRACKNUMBER" then return track_index(track) or 0 end
  if in_list(TRACK_REAL_UNMODELLED, parm) then not_emulated("track value " .. parm) end
  error("emulation: " .. parm .. " is not a track parameter", 2)
end)

define("SetMediaTrackInfo_Value", { "MediaTrack", "string", "number" }, function(track, parm, value)
  local kind = TRACK_VALUES[parm]
  if kind == "read-only" then return false end
  if parm == "B_MUTE" then track.mute = value ~= 0 and 1 or 0
  elseif parm == "I_FOLDERDEPTH" then track.depth = math.floor(value)
  elseif parm == "I_SELECTED" then track.selected = value ~= 0 and 1 or 0
  elseif parm == "I_CUSTOMCOLOR" then track.color = math.floor(value)
  elseif in_list(TRACK_REAL_UNMODELLED, parm) then not_emulated("track value " .. parm)
  else error("emulation: " .. parm .. " is not a track parameter", 2) end
  changed("track " .. parm)
  return true
end)

define("CountSelectedTracks", { "ReaProject" }, function()
  local n = 0
  for _, track in ipairs(S.tracks) do if track.selected == 1 then n = n + 1 end end
  return n
end)

define("GetSelectedTrack", { "ReaProject", "integer" }, function(_, idx)
  for _, track in ipairs(S.tracks) do
    if track.selected == 1 then
      if idx == 0 then return track end
      idx = idx - 1
    end
  end
  return nil
end)

define("CountTrackMediaItems", { "MediaTrack" }, function(track) return #track.items end)
define("GetTrackMediaItem", { "MediaTrack", "integer" }, function(track, idx) return track.items[idx + 1] end)
define("CountMediaItems", { "ReaProject" }, function() return #all_items() end)
define("GetMediaItem", { "ReaProject", "integer" }, function(_, idx) return all_items()[idx + 1] end)

local function selected_items()
  local list = {}
  for _, item in ipairs(all_items()) do if item.values.B_UISEL ~= 0 then list[#list + 1] = item end end
  return list
end
define("CountSelectedMediaItems", { "ReaProject" }, function() return #selected_items() end)
define("GetSelectedMediaItem", { "ReaProject", "integer" }, function(_, idx) return selected_items()[idx + 1] end)
define("GetMediaItem_Track", { "MediaItem" }, function(item) return item.track end)

define("AddMediaItemToTrack", { "MediaTrack" }, function(track)
  local item = new_item(track, {})
  track.items[#track.items + 1] = item
  changed("AddMediaItemToTrack")
  return item
end)

local function item_value_name(parm)
  if ITEM_DEFAULTS[parm] ~= nil then return parm end
  if in_list(ITEM_REAL_UNMODELLED, parm) then not_emulated("item value " .. parm) end
  error("emulation: " .. parm .. " is not an item parameter", 3)
end

define("GetMediaItemInfo_Value", { "MediaItem", "string" }, function(item, parm)
  return item.values[item_value_name(parm)]
end)

define("SetMediaItemInfo_Value", { "MediaItem", "string", "number" }, function(item, parm, value)
  item.values[item_value_name(parm)] = value
  changed("item " .. parm)
  return true
end)

define("GetSetMediaItemInfo_String", { "MediaItem", "string", "string", "boolean" },
  function(item, parm, value, set)
    if parm == "GUID" and not set then return true, item.guid end
    if parm == "P_NOTES" then
      if set then item.notes = value changed("item P_NOTES") end
      return true, item.notes or ""
    end
    if parm:match("^P_") or parm == "GUID" then not_emulated("item string " .. parm) end
    return false, ""
  end)

define("GetActiveTake", { "MediaItem" }, function(item)
  return item.takes[math.floor(item.values.I_CURTAKE) + 1]
end)

define("AddTakeToMediaItem", { "MediaItem" }, function(item)
  local take = new_take(item, {})
  item.takes[#item.takes + 1] = take
  -- The new take becomes the active one, as in REAPER.
  item.values.I_CURTAKE = #item.takes - 1
  changed("AddTakeToMediaItem")
  return take
end)

define("SetActiveTake", { "MediaItem_Take" }, function(take)
  for index, each in ipairs(take.item.takes) do
    if each == take then take.item.values.I_CURTAKE = index - 1 end
  end
  changed("SetActiveTake")
end)

-- The colour order of the OS the scenario names: Windows keeps red in the low byte
-- (RGB()), macOS and Linux (SWELL) in the high byte.
define("ColorToNative", { "integer", "integer", "integer" }, function(r, g, b)
  if S.os == "mac" then return (r << 16) | (g << 8) | b end
  return r | (g << 8) | (b << 16)
end)

local function take_value_name(parm)
  if TAKE_DEFAULTS[parm] ~= nil then return parm end
  if in_list(TAKE_REAL_UNMODELLED, parm) then not_emulated("take value " .. parm) end
  error("emulation: " .. parm .. " is not a take parameter", 3)
end

define("GetMediaItemTakeInfo_Value", { "MediaItem_Take", "string" }, function(take, parm)
  return take.values[take_value_name(parm)]
end)

define("SetMediaItemTakeInfo_Value", { "MediaItem_Take", "string", "number" }, function(take, parm, value)
  take.values[take_value_name(parm)] = value
  changed("take " .. parm)
  return true
end)

define("GetSetMediaItemTakeInfo_String", { "MediaItem_Take", "string", "string", "boolean" },
  function(take, parm, value, set)
    if parm == "P_NAME" then
      if set then take.name = value changed("take P_NAME") end
      return true, take.name
    end
    if parm == "GUID" and not set then return true, take.guid end
    if parm:match("^P_") or parm == "GUID" then not_emulated("take string " .. parm) end
    return false, ""
  end)

define("TakeFX_GetCount", { "MediaItem_Take" }, function(take) return take.fx end)
define("GetMediaItemTake_Source", { "MediaItem_Take" }, function(take) return take.source end)

define("PCM_Source_CreateFromFile", { "string" }, function(file)
  return new_source(file)
end)

define("SetMediaItemTake_Source", { "MediaItem_Take", "PCM_source" }, function(take, source)
  -- REAPER duplicates a source that is already in use; the emulation copies it.
  take.source = new_handle("PCM_source", { file = source.file, wav = source.wav, midi = source.midi })
  changed("SetMediaItemTake_Source")
  return true
end)

define("GetMediaSourceSampleRate", { "PCM_source" }, function(source)
  return source.midi and 0 or source.wav.rate
end)

define("GetMediaSourceNumChannels", { "PCM_source" }, function(source)
  return source.midi and 1 or source.wav.channels
end)

---------------------------------------------------------------------------
-- reaper.* : audio accessors and reaper.array
---------------------------------------------------------------------------

-- reaper.array: methods are called with a dot (buf.table(), buf.clear()), as in REAPER.
emu.ARRAY_MT = {
  __index = function(self, key)
    local data = S.arrays[self]
    if math.type(key) == "integer" then
      if key < 1 or key > data.alloc then error("reaper.array index out of range", 2) end
      return data.values[key] or 0.0
    end
    local method = data.methods[key]
    if not method then error("reaper.array has no method " .. tostring(key), 2) end
    return method
  end,
  __newindex = function(self, key, value)
    local data = S.arrays[self]
    if math.type(key) ~= "integer" or key < 1 or key > data.alloc then
      error("reaper.array index out of range", 2)
    end
    data.values[key] = value
  end,
  __len = function(self) return S.arrays[self].alloc end,
}

local function new_array(size)
  local data = { values = {}, alloc = size, methods = {} }
  local function range(offset, count)
    offset = offset or 1
    count = count or (data.alloc - offset + 1)
    if math.type(offset) ~= "integer" or offset < 1 or count < 0 or offset + count - 1 > data.alloc then
      error("reaper.array: offset/size outside the array", 3)
    end
    return offset, count
  end
  function data.methods.clear(value, offset, count)
    offset, count = range(offset, count)
    for i = offset, offset + count - 1 do data.values[i] = value or 0.0 end
  end
  function data.methods.table(offset, count)
    offset, count = range(offset, count)
    local result = {}
    for i = 1, count do result[i] = data.values[offset + i - 1] or 0.0 end
    return result
  end
  function data.methods.get_alloc() return data.alloc end
  function data.methods.resize(new_size) data.alloc = new_size end
  local array = setmetatable({}, emu.ARRAY_MT)
  S.arrays[array] = data
  return array
end

define("new_array", { "integer" }, function(size) return new_array(size) end)

define("CreateTakeAudioAccessor", { "MediaItem_Take" }, function(take)
  S.open_accessors = S.open_accessors + 1
  return new_handle("AudioAccessor", { take = take })
end)

define("DestroyAudioAccessor", { "AudioAccessor" }, function(accessor)
  accessor.deleted = true
  S.open_accessors = S.open_accessors - 1
end)

define("GetAudioAccessorStartTime", { "AudioAccessor" }, function() return 0.0 end)

define("GetAudioAccessorSamples",
  { "AudioAccessor", "integer", "integer", "number", "integer", "reaper.array" },
  function(accessor, rate, channels, start_s, frames, buffer)
    local take = accessor.take
    local source = take.source
    if not source or source.midi then return 0 end
    local wav = source.wav
    if rate ~= wav.rate then not_emulated("accessor resampling (" .. wav.rate .. " -> " .. rate .. " Hz)") end
    if channels ~= wav.channels then not_emulated("accessor channel mapping") end
    if take.values.D_PLAYRATE ~= 1 then not_emulated("accessor play rate other than 1") end
    if frames * channels > #buffer then error("GetAudioAccessorSamples: samplebuffer too small", 2) end
    local first = math.floor((take.values.D_STARTOFFS + start_s) * rate + 0.5)
    for k = 0, frames - 1 do
      local frame = first + k
      for c = 0, channels - 1 do
        local value = 0.0
        if frame >= 0 and frame < wav.frames then value = wav_sample(wav, frame, c) end
        buffer[k * channels + c + 1] = value
      end
    end
    return 1
  end)

---------------------------------------------------------------------------
-- reaper.* : time selection, regions, files, state, dialogs, processes, undo
---------------------------------------------------------------------------

define("GetSet_LoopTimeRange2", { "ReaProject", "boolean", "boolean", "number", "number", "boolean" },
  function(_, is_set)
    if is_set then not_emulated("setting the time selection") end
    local ts = S.time_selection
    if ts then return ts[1], ts[2] end
    return 0.0, 0.0
  end)

define("CountProjectMarkers", { "ReaProject" }, function()
  local regions = 0
  for _, marker in ipairs(S.markers) do if marker.region then regions = regions + 1 end end
  return #S.markers, #S.markers - regions, regions
end)

define("EnumProjectMarkers2", { "ReaProject", "integer" }, function(_, idx)
  local marker = S.markers[idx + 1]
  if not marker then return 0, false, 0.0, 0.0, "", 0 end
  return idx + 1, marker.region and true or false, marker.start, marker.stop or marker.start,
    marker.name or "", idx + 1
end)

define("RecursiveCreateDirectory", { "string", "integer" }, function(dir)
  local ok = os.execute("mkdir -p '" .. dir:gsub("'", "'\\''") .. "'")
  return ok and 1 or 0
end)

define("GetExtState", { "string", "string" }, function(section, key)
  return (S.ext_state[section] or {})[key] or ""
end)

define("DeleteExtState", { "string", "string", "boolean" }, function(section, key)
  if S.ext_state[section] then
    S.ext_state[section][key] = nil
    if next(S.ext_state[section]) == nil then S.ext_state[section] = nil end
  end
end)

define("SetExtState", { "string", "string", "string", "boolean" }, function(section, key, value)
  S.ext_state[section] = S.ext_state[section] or {}
  S.ext_state[section][key] = value
end)

local function next_answer(kind, record)
  local queue = S.answers[kind] or {}
  local answer = table.remove(queue, 1)
  record.answer = answer
  if answer == nil then error("emulation: unexpected " .. kind .. " dialog: " .. encode(record), 3) end
  return answer
end

define("ShowMessageBox", { "string", "string", "integer" }, function(msg, title, kind)
  local record = { msg = msg, title = title, type = kind }
  S.message_boxes[#S.message_boxes + 1] = record
  local queue = S.answers.message_box or {}
  if #queue == 0 then record.answer = 1 return 1 end -- OK
  return next_answer("message_box", record)
end)

define("ShowConsoleMsg", { "string" }, function(msg) S.console = S.console .. msg end)

define("GetUserInputs", { "string", "integer", "string", "string" }, function(title, n, captions, defaults)
  local record = { title = title, n = n, captions = captions, defaults = defaults }
  S.dialogs[#S.dialogs + 1] = record
  local answer = next_answer("user_inputs", record)
  return answer.ok, answer.text or ""
end)

define("GetUserFileNameForRead", { "string", "string", "string" }, function(initial, title, ext)
  local record = { title = title, defext = ext, initial = initial }
  S.dialogs[#S.dialogs + 1] = record
  local answer = next_answer("file_dialog", record)
  return answer.ok, answer.path or ""
end)

define("ExecProcess", { "string", "integer" }, function(cmdline, timeout_ms)
  S.exec[#S.exec + 1] = { cmdline = cmdline, timeout_ms = timeout_ms }
  if timeout_ms < 0 then -- -1: no wait; -2: no wait, minimized
    local ok = os.execute("(" .. cmdline .. ") >/dev/null 2>&1 &")
    return ok and "" or nil
  end
  local pipe = io.popen(cmdline, "r")
  if not pipe then return nil end
  local output = pipe:read("a")
  local _, _, code = pipe:close()
  return string.format("%d\n%s", code or 0, output)
end)

define("Undo_BeginBlock", {}, function()
  S.undo_depth = S.undo_depth + 1
  S.undo_starts[#S.undo_starts + 1] = S.changes
end)

define("Undo_EndBlock", { "string", "integer" }, function(desc, flags)
  if S.undo_depth == 0 then error("Undo_EndBlock without Undo_BeginBlock", 2) end
  S.undo_depth = S.undo_depth - 1
  local start = table.remove(S.undo_starts)
  S.undo[#S.undo + 1] = { desc = desc, flags = flags, changes = S.changes - start }
end)

define("PreventUIRefresh", { "integer" }, function(n) S.prevent_ui_refresh = S.prevent_ui_refresh + n end)
define("UpdateArrange", {}, function() S.redraws = S.redraws + 1 end)
define("TrackList_AdjustWindows", { "boolean" }, function() S.redraws = S.redraws + 1 end)
define("time_precise", {}, function() return S.clock end)
define("defer", { "function" }, function(fn) S.deferred[#S.deferred + 1] = fn end)
define("atexit", { "function" }, function(fn) S.atexit[#S.atexit + 1] = fn end)

---------------------------------------------------------------------------
-- gfx: a window that records what is drawn and replays the scenario's input
---------------------------------------------------------------------------

local GFX_VARIABLES = {
  x = 0, y = 0, w = 0, h = 0, r = 1, g = 1, b = 1, a = 1, mouse_x = 0, mouse_y = 0,
  mouse_cap = 0, mouse_wheel = 0, mouse_hwheel = 0, texth = 16, clear = 0, dest = -1, mode = 0,
}
local GFX = {}

local function gfx_define(name, spec, impl)
  GFX[name] = function(...)
    check_args("gfx." .. name, spec, select("#", ...), ...)
    return impl(...)
  end
end

gfx_define("init", { "string", "number?", "number?", "number?", "number?", "number?" }, function(name, w, h)
  S.gfx.open, S.gfx.title = true, name
  S.gfx.inits = S.gfx.inits + 1
  S.gfx.vars.w, S.gfx.vars.h = w or 640, h or 480
  return 1
end)
gfx_define("quit", {}, function() S.gfx.open = false S.gfx.quits = S.gfx.quits + 1 end)
gfx_define("getchar", { "number?" }, function()
  if not S.gfx.open then return -1 end
  return table.remove(S.gfx.keys, 1) or 0
end)
gfx_define("update", {}, function() end)
gfx_define("set", { "number", "number?", "number?", "number?", "number?", "number?", "number?" }, function() end)
gfx_define("rect", { "number", "number", "number", "number", "number?" }, function() end)
gfx_define("setfont", { "number", "string?", "number?", "number?" }, function() end)
gfx_define("measurestr", { "string" }, function(text) return 8 * #text, 16 end)
gfx_define("drawstr", { "string", "number?", "number?", "number?" }, function(text)
  local v = S.gfx.vars
  S.gfx.texts[#S.gfx.texts + 1] = { text = text, x = v.x, y = v.y }
  S.gfx.last_text = text
  v.x = v.x + 8 * #text
end)
gfx_define("showmenu", { "string" }, function(menu)
  if not S.gfx.open then error("gfx.showmenu needs a gfx window (gfx.init first)", 2) end
  local record = { menu = menu }
  S.menus[#S.menus + 1] = record
  return next_answer("menu", record)
end)

local function install_gfx()
  S.gfx = { open = false, inits = 0, quits = 0, texts = {}, keys = {}, vars = copy(GFX_VARIABLES) }
  _G.gfx = setmetatable({}, {
    __index = function(_, key)
      if GFX[key] then return GFX[key] end
      if S.gfx.vars[key] ~= nil then return S.gfx.vars[key] end
      error("gfx." .. tostring(key) .. " is not in REAPER's gfx API (or not emulated)", 2)
    end,
    __newindex = function(_, key, value)
      if GFX_VARIABLES[key] == nil then error("gfx." .. tostring(key) .. " cannot be set", 2) end
      S.gfx.vars[key] = value
    end,
  })
end

---------------------------------------------------------------------------
-- Scenario set-up, the defer loop, and the dump
---------------------------------------------------------------------------

local function snapshot()
  local tracks = {}
  for i, track in ipairs(S.tracks) do
    local items = {}
    for j, item in ipairs(track.items) do
      local takes = {}
      for k, take in ipairs(item.takes) do
        takes[k] = { name = take.name, guid = take.guid, values = copy(take.values),
          source = take.source and take.source.file or nil }
      end
      items[j] = { guid = item.guid, values = copy(item.values), takes = as_array(takes) }
    end
    tracks[i] = { name = track.name, guid = track.guid, depth = track.depth, mute = track.mute,
      selected = track.selected, color = track.color, items = as_array(items) }
  end
  return as_array(tracks)
end

--- Build the project from `scenario` and install the global `reaper` and `gfx` tables.
function emu.setup(scenario)
  S = {
    calls = {}, changes = 0, changes_outside_undo = {}, undo = {}, undo_depth = 0, undo_starts = {},
    prevent_ui_refresh = 0, redraws = 0, message_boxes = {}, dialogs = {}, menus = {}, console = "",
    exec = {}, errors = {}, deferred = {}, atexit = {}, clock = 0.0, cycle = 0, guid_counter = 0,
    open_accessors = 0, arrays = setmetatable({}, { __mode = "k" }),
    tick_s = scenario.tick_s or 0.05, timeout_s = scenario.timeout_s or 90,
    media_path = scenario.media_path or "/tmp", resource_path = scenario.resource_path or "/tmp",
    project_file = scenario.project_file or "", time_selection = scenario.time_selection,
    markers = scenario.markers or {}, answers = scenario.answers or {}, events = scenario.events or {},
    ext_state = scenario.ext_state or {}, tracks = {}, os = scenario.os or "windows",
  }
  S.project = new_handle("ReaProject", {})
  for _, spec in ipairs(scenario.tracks or {}) do
    local track = new_track(spec)
    for _, item_spec in ipairs(spec.items or {}) do track.items[#track.items + 1] = new_item(track, item_spec) end
    S.tracks[#S.tracks + 1] = track
  end
  S.initial = snapshot()
  _G.reaper = setmetatable({}, {
    __index = function(_, key)
      if API[key] then return API[key] end
      error("reaper." .. tostring(key) .. " is not in REAPER's ReaScript API (or not emulated)", 2)
    end,
    __newindex = function(_, key) error("reaper." .. tostring(key) .. " cannot be assigned", 2) end,
  })
  install_gfx()
  return S
end

local function record_error(err)
  S.errors[#S.errors + 1] = debug.traceback(tostring(err), 2)
end

function emu.run_script(file)
  local ok, err = xpcall(dofile, record_error, file)
  return ok, err
end

local function button_center(text)
  for i = #S.gfx.texts, 1, -1 do
    local entry = S.gfx.texts[i]
    if entry.text == text then return entry.x + 4 * #text, entry.y + 8 end
  end
  error("emulation: no '" .. text .. "' drawn to click on")
end

local function apply_events()
  local v = S.gfx.vars
  if S.gfx.released then v.mouse_cap, S.gfx.released = 0, false end
  for _, event in ipairs(S.events) do
    if event.cycle == S.cycle then
      if event.key then S.gfx.keys[#S.gfx.keys + 1] = event.key end
      if event.close then S.gfx.open = false end
      if event.click then
        v.mouse_x, v.mouse_y = button_center(event.click)
        v.mouse_cap, S.gfx.released = 1, true
      end
    end
  end
end

--- Run deferred functions until none is queued (or the scenario times out), then atexit.
--- `later`: more scripts to run, at a cycle of the loop or once it is idle.
function emu.loop(later)
  local started = os.time()
  local pending = {}
  for _, entry in ipairs(later or {}) do pending[#pending + 1] = entry end
  local function start_due(idle)
    while pending[1] and ((pending[1].cycle and pending[1].cycle <= S.cycle)
        or (idle and not pending[1].cycle)) do
      emu.run_script(table.remove(pending, 1).script)
      if idle then return end
    end
  end
  while (#S.deferred > 0 or #pending > 0) and #S.errors == 0 do
    if #S.deferred == 0 then start_due(true) end
    local batch = S.deferred
    S.deferred = {}
    S.cycle = S.cycle + 1
    S.clock = S.clock + S.tick_s
    apply_events()
    start_due(false)
    for _, fn in ipairs(batch) do xpcall(fn, record_error) end
    if os.time() - started > S.timeout_s then
      record_error("emulation: defer loop still running after " .. S.timeout_s .. " s")
      break
    end
    if S.tick_s > 0 then os.execute("sleep " .. S.tick_s) end
  end
  for _, fn in ipairs(S.atexit) do xpcall(fn, record_error) end
end

function emu.dump()
  return {
    initial = S.initial, tracks = snapshot(), undo = as_array(S.undo),
    changes_outside_undo = as_array(S.changes_outside_undo), undo_depth = S.undo_depth,
    prevent_ui_refresh = S.prevent_ui_refresh, message_boxes = as_array(S.message_boxes),
    dialogs = as_array(S.dialogs), menus = as_array(S.menus), console = S.console,
    exec = as_array(S.exec), errors = as_array(S.errors), cycles = S.cycle,
    open_accessors = S.open_accessors, ext_state = S.ext_state, calls = S.calls,
    gfx = { open = S.gfx.open, inits = S.gfx.inits, quits = S.gfx.quits, title = S.gfx.title,
      texts_drawn = #S.gfx.texts, last_text = S.gfx.last_text },
  }
end

function emu.write_dump(file)
  local handle = assert(io.open(file, "w"))
  handle:write(encode(emu.dump()))
  handle:close()
end

return emu
