--[[
samaudio_lib.lua: the code the samaudio-daw actions share (not an action itself).

Each action loads it with dofile() from its own folder. It renders items with
REAPER's audio accessor, writes a job manifest, runs `samaudio-daw run` in the
background, follows its status file, and imports the stems as tracks.
Every reaper.* function used here is listed, with the REAPER version that has it,
in README.md next to this file.
]]

local M = {}

M.VERSION = "0.1.0"
M.EXT_SECTION = "samaudio-daw"
M.CONFIG_FILE = "samaudio-config.json"
M.INSTALL_FOLDER = "samaudio-daw"
M.TITLE = "samaudio"

---------------------------------------------------------------------------
-- JSON: a small encoder/decoder (objects, arrays, strings, numbers, booleans, null)
---------------------------------------------------------------------------

local json = {}
M.json = json

-- null inside arrays decodes to json.null so array lengths stay right;
-- in objects a null value simply leaves the key out.
json.null = setmetatable({}, { __tostring = function() return "null" end })
local array_mt = { __name = "json.array" }

--- Mark a table as a JSON array (needed for empty arrays).
function json.array(t)
  return setmetatable(t or {}, array_mt)
end

local function is_array(t)
  if getmetatable(t) == array_mt then return true end
  local n = #t
  if n == 0 then return false end
  local count = 0
  for key in pairs(t) do
    if math.type(key) ~= "integer" or key < 1 or key > n then return false end
    count = count + 1
  end
  return count == n
end

local ESCAPES = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}

local function encode_string(s)
  local body = s:gsub('[%c"\\]', function(c)
    return ESCAPES[c] or string.format("\\u%04x", c:byte())
  end)
  return '"' .. body .. '"'
end

local function encode_number(x)
  if math.type(x) == "integer" then return string.format("%d", x) end
  if x ~= x or x == math.huge or x == -math.huge then
    error("json: cannot encode the number " .. tostring(x), 0)
  end
  -- Shortest of %.15g / %.17g that reads back as the same double.
  local text = string.format("%.15g", x)
  if tonumber(text) ~= x then text = string.format("%.17g", x) end
  return text
end

local encode_value

local function encode_table(t, indent, depth)
  local pad, inner, sep = "", "", ","
  if indent then
    pad = "\n" .. string.rep(indent, depth)
    inner = "\n" .. string.rep(indent, depth + 1)
    sep = ","
  end
  local parts = {}
  if is_array(t) then
    for i = 1, #t do parts[i] = inner .. encode_value(t[i], indent, depth + 1) end
    if #parts == 0 then return "[]" end
    return "[" .. table.concat(parts, sep) .. pad .. "]"
  end
  local keys = {}
  for key in pairs(t) do
    if type(key) ~= "string" then error("json: object keys must be strings", 0) end
    keys[#keys + 1] = key
  end
  table.sort(keys)
  local colon = indent and ": " or ":"
  for i, key in ipairs(keys) do
    parts[i] = inner .. encode_string(key) .. colon .. encode_value(t[key], indent, depth + 1)
  end
  if #parts == 0 then return "{}" end
  return "{" .. table.concat(parts, sep) .. pad .. "}"
end

encode_value = function(v, indent, depth)
  local kind = type(v)
  if v == nil or v == json.null then return "null" end
  if kind == "boolean" then return v and "true" or "false" end
  if kind == "number" then return encode_number(v) end
  if kind == "string" then return encode_string(v) end
  if kind == "table" then return encode_table(v, indent, depth) end
  error("json: cannot encode a " .. kind, 0)
end

--- JSON text for `value`; `indent` (e.g. "  ") pretty-prints. Object keys are sorted.
function json.encode(value, indent)
  return encode_value(value, indent, 0)
end

local decode_value

local function fail_at(i, what)
  error({ json_error = what .. " at character " .. i }, 0)
end

local function skip_space(s, i)
  return s:find("[^ \t\r\n]", i) or #s + 1
end

local function decode_unicode(s, i)
  local hex = s:match("^%x%x%x%x", i)
  if not hex then fail_at(i, "bad \\u escape") end
  local code = tonumber(hex, 16)
  local next_i = i + 4
  if code >= 0xD800 and code <= 0xDBFF then
    local low = s:match("^\\u(%x%x%x%x)", next_i)
    local low_code = low and tonumber(low, 16)
    if low_code and low_code >= 0xDC00 and low_code <= 0xDFFF then
      code = 0x10000 + (code - 0xD800) * 0x400 + (low_code - 0xDC00)
      next_i = next_i + 6
    end
  end
  return utf8.char(code), next_i
end

local UNESCAPE = {
  b = "\b", f = "\f", n = "\n", r = "\r", t = "\t", ['"'] = '"', ["\\"] = "\\", ["/"] = "/",
}

local function decode_string(s, i)
  local parts, j = {}, i + 1
  while true do
    local k = s:find('["\\]', j)
    if not k then fail_at(i, "unterminated string") end
    parts[#parts + 1] = s:sub(j, k - 1)
    if s:sub(k, k) == '"' then return table.concat(parts), k + 1 end
    local c = s:sub(k + 1, k + 1)
    if c == "u" then
      local text
      text, j = decode_unicode(s, k + 2)
      parts[#parts + 1] = text
    elseif UNESCAPE[c] then
      parts[#parts + 1] = UNESCAPE[c]
      j = k + 2
    else
      fail_at(k, "bad escape")
    end
  end
end

local function decode_number(s, i)
  local text = s:match("^-?%d+%.?%d*[eE][-+]?%d+", i) or s:match("^-?%d+%.?%d*", i)
  if not text then fail_at(i, "bad number") end
  local value = tonumber(text)
  if not text:find("[%.eE]") then value = math.tointeger(value) or value end
  return value, i + #text
end

local function decode_array(s, i)
  local result, n = json.array({}), 0
  i = skip_space(s, i + 1)
  if s:sub(i, i) == "]" then return result, i + 1 end
  while true do
    local value
    value, i = decode_value(s, i)
    n = n + 1
    result[n] = value == nil and json.null or value
    i = skip_space(s, i)
    local c = s:sub(i, i)
    if c == "]" then return result, i + 1 end
    if c ~= "," then fail_at(i, "expected , or ]") end
    i = i + 1
  end
end

local function decode_object(s, i)
  local result = {}
  i = skip_space(s, i + 1)
  if s:sub(i, i) == "}" then return result, i + 1 end
  while true do
    i = skip_space(s, i)
    if s:sub(i, i) ~= '"' then fail_at(i, "expected a key") end
    local key
    key, i = decode_string(s, i)
    i = skip_space(s, i)
    if s:sub(i, i) ~= ":" then fail_at(i, "expected :") end
    local value
    value, i = decode_value(s, i + 1)
    result[key] = value
    i = skip_space(s, i)
    local c = s:sub(i, i)
    if c == "}" then return result, i + 1 end
    if c ~= "," then fail_at(i, "expected , or }") end
    i = i + 1
  end
end

local LITERALS = { ["true"] = true, ["false"] = false }

decode_value = function(s, i)
  i = skip_space(s, i)
  local c = s:sub(i, i)
  if c == "{" then return decode_object(s, i) end
  if c == "[" then return decode_array(s, i) end
  if c == '"' then return decode_string(s, i) end
  if c == "-" or c:match("%d") then return decode_number(s, i) end
  for word, value in pairs(LITERALS) do
    if s:sub(i, i + #word - 1) == word then return value, i + #word end
  end
  if s:sub(i, i + 3) == "null" then return nil, i + 4 end
  fail_at(i, "unexpected " .. (c == "" and "end of text" or ("'" .. c .. "'")))
end

--- Decode JSON text; returns the value, or nil and a message saying where it broke.
function json.decode(text)
  local ok, value, i = pcall(decode_value, text, 1)
  if not ok then
    if type(value) == "table" and value.json_error then return nil, value.json_error end
    error(value, 0)
  end
  if skip_space(text, i) <= #text then return nil, "extra text at character " .. i end
  return value
end

---------------------------------------------------------------------------
-- Files and paths
---------------------------------------------------------------------------

local path = {}
M.path = path

path.sep = package.config:sub(1, 1)
path.is_windows = path.sep == "\\"

function path.join(...)
  local parts = { ... }
  local result = parts[1]
  for i = 2, #parts do
    if result == "" or result:sub(-1):match("[/\\]") then
      result = result .. parts[i]
    else
      result = result .. path.sep .. parts[i]
    end
  end
  return result
end

function path.dirname(p)
  return p:match("^(.*)[/\\][^/\\]*$") or "."
end

function path.basename(p)
  return p:match("([^/\\]+)$") or p
end

function path.is_absolute(p)
  return p:match("^[/\\]") ~= nil or p:match("^%a:[/\\]") ~= nil
end

function path.exists(p)
  local file = io.open(p, "rb")
  if file then file:close() return true end
  return false
end

function path.read(p)
  local file, err = io.open(p, "rb")
  if not file then return nil, err end
  local text = file:read("a")
  file:close()
  return text
end

--- Write `text` to a temporary name beside `p`, then rename it into place.
function path.write_atomic(p, text)
  local temp = p .. ".part"
  local file, err = io.open(temp, "wb")
  if not file then return nil, err end
  file:write(text)
  file:close()
  if path.is_windows then os.remove(p) end -- rename does not replace on Windows
  local ok, rename_err = os.rename(temp, p)
  if not ok then return nil, rename_err end
  return true
end

---------------------------------------------------------------------------
-- Messages
---------------------------------------------------------------------------

function M.message(text, title)
  reaper.ShowMessageBox(text, title or M.TITLE, 0)
end

function M.console(text)
  reaper.ShowConsoleMsg(M.TITLE .. ": " .. text .. "\n")
end

---------------------------------------------------------------------------
-- The bridge: where samaudio-daw is, and how to call it
---------------------------------------------------------------------------

local config = {}
M.config = config

function config.candidates(script_dir)
  return {
    path.join(script_dir, M.CONFIG_FILE),
    path.join(reaper.GetResourcePath(), "Scripts", M.INSTALL_FOLDER, M.CONFIG_FILE),
  }
end

local function check_config(doc, file)
  if type(doc) ~= "table" or type(doc.command) ~= "table" or #doc.command == 0 then
    return nil, file .. ": no \"command\" list; run `samaudio-daw reaper install` again"
  end
  for _, part in ipairs(doc.command) do
    if type(part) ~= "string" or part:find('"', 1, true) then
      return nil, file .. ": bad \"command\" entry; run `samaudio-daw reaper install` again"
    end
  end
  if not path.exists(doc.command[1]) then
    return nil, "samaudio-daw not found at " .. doc.command[1] .. " (from " .. file ..
      "). Reinstall it, then run `samaudio-daw reaper install` again."
  end
  doc.backend = doc.backend or "dsp"
  doc.presets = doc.presets or json.array({})
  doc.jobs = math.tointeger(doc.jobs) or 1 -- queued jobs at once on the CPU
  doc.file = file
  return doc
end

--- The first config file there is: {file, doc}, {file, error} (not JSON), or {tried}
--- (no config in any of the places looked at).
function config.find(script_dir)
  local tried = {}
  for _, file in ipairs(config.candidates(script_dir)) do
    local text = path.read(file)
    if text then
      local doc, err = json.decode(text)
      if doc == nil then return { file = file, error = file .. ": not valid JSON (" .. err .. ")" } end
      return { file = file, doc = doc }
    end
    tried[#tried + 1] = file
  end
  return { tried = tried }
end

--- The config written by `samaudio-daw reaper install`, or nil and a one-line reason.
function config.load(script_dir)
  local found = config.find(script_dir)
  if found.error then return nil, found.error end
  if found.doc ~= nil then return check_config(found.doc, found.file) end
  return nil, "samaudio-daw is not set up for REAPER yet (no " .. M.CONFIG_FILE .. " in " ..
    table.concat(found.tried, " or ") .. "). In a terminal, run: samaudio-daw reaper install"
end

--- samaudio-daw's argument list: the configured command, then `args`, then --presets DIRs.
function config.argv(cfg, args)
  local argv = {}
  for _, part in ipairs(cfg.command) do argv[#argv + 1] = part end
  for _, part in ipairs(args) do argv[#argv + 1] = part end
  for _, folder in ipairs(cfg.presets) do
    argv[#argv + 1] = "--presets"
    argv[#argv + 1] = folder
  end
  return argv
end

local function double_quoted(argv)
  local parts = {}
  for i, part in ipairs(argv) do parts[i] = '"' .. part .. '"' end
  return table.concat(parts, " ")
end

--- Run samaudio-daw and wait (at most timeout_ms); returns exit code and stdout.
function config.run_blocking(cfg, args, timeout_ms)
  local line = double_quoted(config.argv(cfg, args))
  local output = reaper.ExecProcess(line, timeout_ms)
  if output == nil then return nil, "could not start " .. cfg.command[1] end
  local code, rest = output:match("^(%-?%d+)\n?(.*)$")
  if not code then
    return nil, "samaudio-daw did not finish within " .. timeout_ms // 1000 .. " s"
  end
  return tonumber(code), rest
end

---------------------------------------------------------------------------
-- Track names: [preset tags] and {inline prompts}
---------------------------------------------------------------------------

local names = {}
M.names = names

local function trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end
M.trim = trim

--- How a [tag] is looked up: "Lead Vocal " -> "lead-vocal" (as the preset library does).
function names.tag_name(tag)
  return (trim(tag):lower():gsub("[%s_]+", "-"))
end

--- `track_name` with every [tag] and {prompt} replaced by one [preset] tag.
function names.with_tag(track_name, preset)
  local base = names.without_tag(track_name)
  if base == "" then return "[" .. preset .. "]" end
  return base .. " [" .. preset .. "]"
end

function names.without_tag(track_name)
  local base = track_name:gsub("%[[^%[%]]*%]", ""):gsub("{[^{}]*}", "")
  return (trim(base):gsub("%s%s+", " "))
end

--- A stem track's (or take's) name by a pattern: "{stem} - {track}" with "vocal" and
--- "Vox [lead-vocal]" -> "vocal - Vox" (the track's [tag] and {prompts} left out).
function names.stem_track(pattern, stem, track_name)
  local track = names.without_tag(track_name or "")
  local name = pattern:gsub("{stem}", function() return stem end)
  name = name:gsub("{track}", function() return track end)
  name = trim(name):gsub("^[%s%-]+", ""):gsub("[%s%-]+$", "")
  if name == "" then return stem end
  return name
end

--- A file-name-safe short name: "Vox 2 [lead-vocal]" -> "vox-2-lead-vocal".
function names.slug(text)
  local slug = text:lower():gsub("[^%w]+", "-"):gsub("^%-+", ""):gsub("%-+$", "")
  slug = slug:sub(1, 40):gsub("%-+$", "")
  if slug == "" then return "item" end
  return slug
end

---------------------------------------------------------------------------
-- The project: tracks, items, GUIDs, time selection and regions
---------------------------------------------------------------------------

local project = {}
M.project = project

function project.track_name(track)
  local _, name = reaper.GetSetMediaTrackInfo_String(track, "P_NAME", "", false)
  return name
end

function project.item_guid(item)
  local _, guid = reaper.GetSetMediaItemInfo_String(item, "GUID", "", false)
  return guid
end

function project.find_track(guid)
  for i = 0, reaper.CountTracks(0) - 1 do
    local track = reaper.GetTrack(0, i)
    if reaper.GetTrackGUID(track):upper() == guid:upper() then return track end
  end
  return nil
end

function project.find_item(guid)
  for i = 0, reaper.CountMediaItems(0) - 1 do
    local item = reaper.GetMediaItem(0, i)
    if project.item_guid(item):upper() == guid:upper() then return item end
  end
  return nil
end

--- The only track called `name`, or nil when there is none or several.
function project.find_track_named(name)
  local found
  for i = 0, reaper.CountTracks(0) - 1 do
    local track = reaper.GetTrack(0, i)
    if project.track_name(track) == name then
      if found then return nil end
      found = track
    end
  end
  return found
end

function project.time_selection()
  local start_s, end_s = reaper.GetSet_LoopTimeRange2(0, false, false, 0, 0, false)
  if end_s > start_s then return start_s, end_s end
  return nil
end

function project.regions()
  local result = {}
  local _, markers, regions = reaper.CountProjectMarkers(0)
  for i = 0, markers + regions - 1 do
    local retval, is_region, start_s, end_s, name = reaper.EnumProjectMarkers2(0, i)
    if retval > 0 and is_region then
      result[#result + 1] = { start_s = start_s, end_s = end_s, name = name }
    end
  end
  return result
end

function project.selected_items()
  local items = {}
  for i = 0, reaper.CountSelectedMediaItems(0) - 1 do
    items[#items + 1] = reaper.GetSelectedMediaItem(0, i)
  end
  return items
end

local function overlaps(item, start_s, end_s)
  local position = reaper.GetMediaItemInfo_Value(item, "D_POSITION")
  local length = reaper.GetMediaItemInfo_Value(item, "D_LENGTH")
  return position < end_s and position + length > start_s
end

--- Items on the selected tracks; with a time selection, only those that overlap it.
function project.items_on_selected_tracks()
  local items = {}
  local start_s, end_s = project.time_selection()
  for t = 0, reaper.CountSelectedTracks(0) - 1 do
    local track = reaper.GetSelectedTrack(0, t)
    for i = 0, reaper.CountTrackMediaItems(track) - 1 do
      local item = reaper.GetTrackMediaItem(track, i)
      if not start_s or overlaps(item, start_s, end_s) then items[#items + 1] = item end
    end
  end
  return items
end

--- Time spans for an item at position_s, length_s: the time selection and the regions
--- that overlap it, in seconds from the item's start: { {"+", start, end}, ... }.
function project.spans(position_s, length_s, time_selection, regions)
  local spans = json.array({})
  local function add(start_s, end_s)
    local s = math.max(0, start_s - position_s)
    local e = math.min(length_s, end_s - position_s)
    if e - s >= 0.01 then spans[#spans + 1] = json.array({ "+", s, e }) end
  end
  if time_selection then add(time_selection[1], time_selection[2]) end
  for _, region in ipairs(regions) do add(region.start_s, region.end_s) end
  return spans
end

---------------------------------------------------------------------------
-- Rendering an item's active take to a float WAV with REAPER's audio accessor
---------------------------------------------------------------------------

local render = {}
M.render = render

local BEXT_BYTES = 602
-- KSDATAFORMAT_SUBTYPE_IEEE_FLOAT after its two-byte format code
local GUID_TAIL = "\0\0\0\0\16\0\128\0\0\170\0\56\155\113"

local function padded(text, size)
  return text:sub(1, size) .. string.rep("\0", size - math.min(#text, size))
end

--- RIFF/WAVE header for 32-bit float audio with a BWF bext time reference (frames).
function render.wav_header(rate, channels, frames, time_reference)
  local block_align = 4 * channels
  local fmt
  if channels > 2 then
    fmt = string.pack("<HHIIHHHHI", 0xFFFE, channels, rate, rate * block_align, block_align,
      32, 22, 32, 0) .. string.pack("<H", 3) .. GUID_TAIL
  else
    fmt = string.pack("<HHIIHH", 3, channels, rate, rate * block_align, block_align, 32)
  end
  local bext = padded("samaudio-daw: item rendered by REAPER", 256) .. padded("samaudio-daw", 32) ..
    string.rep("\0", 32 + 10 + 8) .. string.pack("<I8I2", time_reference, 1)
  bext = padded(bext, BEXT_BYTES)
  local data_bytes = frames * block_align
  local chunks = "fmt " .. string.pack("<I4", #fmt) .. fmt .. "bext" .. string.pack("<I4", #bext) ..
    bext .. "data" .. string.pack("<I4", data_bytes)
  return "RIFF" .. string.pack("<I4", 4 + #chunks + data_bytes) .. "WAVE" .. chunks
end

--- What is needed to render `item`, or nil and why it cannot be rendered.
function render.describe(item)
  local track = reaper.GetMediaItem_Track(item)
  local name = project.track_name(track)
  local position_s = reaper.GetMediaItemInfo_Value(item, "D_POSITION")
  local where = string.format("item at %.3f s on track '%s'", position_s, name)
  local take = reaper.GetActiveTake(item)
  if not take then return nil, where .. " is empty (no take)" end
  local source = reaper.GetMediaItemTake_Source(take)
  local rate = reaper.GetMediaSourceSampleRate(source)
  if rate <= 0 then
    return nil, where .. " has no audio (MIDI or empty); render it to audio first"
  end
  return {
    item = item, take = take, track = track, track_name = name, where = where,
    track_guid = reaper.GetTrackGUID(track), item_guid = project.item_guid(item),
    position_s = position_s, length_s = reaper.GetMediaItemInfo_Value(item, "D_LENGTH"),
    rate = math.floor(rate), channels = math.max(1, reaper.GetMediaSourceNumChannels(source)),
    take_fx = reaper.TakeFX_GetCount(take),
  }
end

local BLOCK_FRAMES = 2048

local function write_samples(file, info, frames)
  local accessor = reaper.CreateTakeAudioAccessor(info.take)
  local start_s = reaper.GetAudioAccessorStartTime(accessor)
  local buffer = reaper.new_array(BLOCK_FRAMES * info.channels)
  local done, err = 0, nil
  while done < frames do
    local n = math.min(BLOCK_FRAMES, frames - done)
    buffer.clear()
    local got = reaper.GetAudioAccessorSamples(accessor, info.rate, info.channels,
      start_s + (info.offset_s or 0) + done / info.rate, n, buffer)
    if got < 0 then err = "REAPER could not read the audio of the " .. info.where break end
    local values = buffer.table(1, n * info.channels)
    file:write(string.pack("<" .. string.rep("f", #values), table.unpack(values)))
    done = done + n
  end
  reaper.DestroyAudioAccessor(accessor)
  return err
end

--- Render the item's active take as REAPER plays it (source, offset, rate; not the
--- item's fades or volume, which the stems get back as item properties) to `out_path`.
--- `info.offset_s` (an audition's part of the item) starts that far into the item.
function render.to_wav(info, out_path)
  local frames = math.floor(info.length_s * info.rate + 0.5)
  if frames < 1 then return nil, "the " .. info.where .. " is too short" end
  local file, open_err = io.open(out_path, "wb")
  if not file then return nil, "cannot write " .. out_path .. " (" .. tostring(open_err) .. ")" end
  local time_reference = math.floor(info.position_s * info.rate + 0.5)
  file:write(render.wav_header(info.rate, info.channels, frames, time_reference))
  local err = write_samples(file, info, frames)
  file:close()
  if err then os.remove(out_path) return nil, err end
  return frames
end

---------------------------------------------------------------------------
-- Jobs: the manifest `samaudio-daw run` reads, and the folder it lives in
---------------------------------------------------------------------------

local job = {}
M.job = job
job.MARKER = ".samaudio-job"

--- Where job folders go: the project's media folder, or (no project path at all)
--- REAPER's resource folder.
function job.base_folder()
  local media = reaper.GetProjectPath()
  if media == "" then return path.join(reaper.GetResourcePath(), "samaudio-daw jobs") end
  return path.join(media, "samaudio")
end

--- A new, empty job folder under job.base_folder(): <base>/<date-time>.
function job.new_folder()
  local base = job.base_folder()
  local stamp = os.date("%Y%m%d-%H%M%S")
  local dir, n = path.join(base, stamp), 1
  while path.exists(path.join(dir, job.MARKER)) do
    n = n + 1
    dir = path.join(base, stamp .. "-" .. n)
  end
  reaper.RecursiveCreateDirectory(path.join(dir, "input"), 0)
  if not path.write_atomic(path.join(dir, job.MARKER), "samaudio-daw job folder\n") then
    return nil, "cannot create the job folder " .. dir .. "; check the project's media folder"
  end
  return dir
end

--- One manifest item (see samaudio_daw/schemas/job.schema.json).
function job.item(info, audio, name, selection, spans)
  local entry = {
    audio = audio, name = name, track = info.track_name, track_guid = info.track_guid,
    item_guid = info.item_guid, position_s = info.position_s, length_s = info.length_s,
  }
  if selection.preset then
    entry.preset = selection.preset
  else
    entry.prompts = json.array(selection.prompts)
  end
  if spans and #spans > 0 then entry.spans = spans end
  return entry
end

function job.manifest(items, cfg, project_file)
  local doc = {
    version = 1, output_dir = "stems", status_file = "status.json",
    items = json.array(items), backend = cfg.backend,
  }
  if project_file and project_file ~= "" then doc.project = project_file end
  return doc
end

---------------------------------------------------------------------------
-- Running samaudio-daw in the background and following its status file
---------------------------------------------------------------------------

local bridge = {}
M.bridge = bridge

local function sh_quoted(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function posix_launcher(argv, dir, prefix)
  local quoted = {}
  for i, part in ipairs(argv) do quoted[i] = sh_quoted(part) end
  local d = function(name) return sh_quoted(path.join(dir, prefix .. name)) end
  return table.concat({
    "#!/bin/sh",
    "# Written by the samaudio-daw REAPER script: runs the job, records how it ended.",
    "cd " .. sh_quoted(dir) .. " || exit 1",
    table.concat(quoted, " ") .. " > " .. d("bridge.log") .. " 2>&1",
    "echo $? > " .. d("exit_code.part"),
    "mv " .. d("exit_code.part") .. " " .. d("exit_code.txt"),
    "",
  }, "\n")
end

local function windows_launcher(argv, dir, prefix)
  local d = function(name) return '"' .. path.join(dir, prefix .. name) .. '"' end
  return table.concat({
    "@echo off",
    "rem Written by the samaudio-daw REAPER script: runs the job, records how it ended.",
    'cd /d "' .. dir .. '"',
    double_quoted(argv) .. " > " .. d("bridge.log") .. " 2>&1",
    "echo %ERRORLEVEL% > " .. d("exit_code.part"),
    "move /Y " .. d("exit_code.part") .. " " .. d("exit_code.txt") .. " > nul",
    "",
  }, "\r\n")
end

--- Start samaudio-daw with `argv` in `dir` without waiting (REAPER stays responsive);
--- its launcher, log and exit code are `<prefix>run.sh`, `<prefix>bridge.log` and
--- `<prefix>exit_code.txt` there.
function bridge.launch(argv, dir, prefix)
  local launcher, line
  if path.is_windows then
    launcher = path.join(dir, prefix .. "run.cmd")
    line = 'cmd.exe /S /C ""' .. launcher .. '""' -- /S: strip only the outer quotes
    path.write_atomic(launcher, windows_launcher(argv, dir, prefix))
  else
    launcher = path.join(dir, prefix .. "run.sh")
    line = '/bin/sh "' .. launcher .. '"'
    path.write_atomic(launcher, posix_launcher(argv, dir, prefix))
  end
  if not path.exists(launcher) then return nil, "cannot write " .. launcher end
  -- -1: do not wait (-2 also minimizes the console window on Windows)
  local started = reaper.ExecProcess(line, path.is_windows and -2 or -1)
  if started == nil then return nil, "could not start " .. line end
  return true
end

function bridge.cancel_file(dir)
  return path.join(dir, "status.json.cancel")
end

--- Ask the run to stop; safe to call repeatedly (the runner clears the file when it starts).
function bridge.request_cancel(dir)
  local file = bridge.cancel_file(dir)
  if not path.exists(file) then path.write_atomic(file, "cancel\n") end
end

--- The last "samaudio-daw: ..." line of the bridge's log (`<prefix>bridge.log`), or nil.
function bridge.last_error(dir, prefix)
  local text = path.read(path.join(dir, (prefix or "") .. "bridge.log")) or ""
  local last
  for line in text:gmatch("[^\r\n]+") do
    if line:match("^samaudio%-daw: ") then last = line end
  end
  return last
end

--- Where the job is: a status table ({state, progress, message, result}), or
--- {state = "exited", code = n} when the process ended without a final status, or nil.
function bridge.poll(dir)
  local status
  local text = path.read(path.join(dir, "status.json"))
  if text then status = json.decode(text) end
  if type(status) == "table" and status.state ~= "running" then return status end
  local code_text = path.read(path.join(dir, "exit_code.txt"))
  local code = code_text and tonumber(code_text:match("%-?%d+"))
  if code then return { state = "exited", code = code } end
  return type(status) == "table" and status or nil
end

---------------------------------------------------------------------------
-- A small progress window with a Cancel button
---------------------------------------------------------------------------

local window = {}
M.window = window
window.__index = window

window.ROW_H = 52

function window.open(title)
  gfx.init(title, 520, 14 + 6 * window.ROW_H)
  gfx.setfont(1, "Arial", 16)
  return setmetatable({ open = true, previous_cap = 0 }, window)
end

local function inside(x, y, w, h)
  return gfx.mouse_x >= x and gfx.mouse_x < x + w and gfx.mouse_y >= y and gfx.mouse_y < y + h
end

--- Draw one row per job ({text, fraction, cancelling}), each with a bar and its own
--- "Cancel #n" button. Returns n when that button is pressed, "all" when the window
--- is closed or Escape pressed, else nil.
function window:draw_rows(rows, idle_text)
  if not self.open then return nil end
  local key = gfx.getchar()
  if key < 0 then self.open = false return "all" end -- window closed
  local w, h = gfx.w, gfx.h
  gfx.set(0.16, 0.16, 0.16) gfx.rect(0, 0, w, h, 1)
  if #rows == 0 then gfx.set(0.9, 0.9, 0.9) gfx.x, gfx.y = 14, 14 gfx.drawstr(idle_text) end
  local click = gfx.mouse_cap & 1 == 1 and self.previous_cap & 1 == 0
  local pressed
  for i, row in ipairs(rows) do
    local y = 14 + (i - 1) * window.ROW_H
    gfx.set(0.9, 0.9, 0.9) gfx.x, gfx.y = 14, y gfx.drawstr(row.text)
    gfx.set(0.3, 0.3, 0.3) gfx.rect(14, y + 24, w - 140, 10, 1)
    local filled = math.floor((w - 140) * math.min(math.max(row.fraction, 0), 1))
    gfx.set(0.25, 0.7, 0.45) gfx.rect(14, y + 24, filled, 10, 1)
    if not row.cancelling then
      local bx, by, bw, bh = w - 110, y + 8, 96, 26
      gfx.set(0.35, 0.35, 0.35) gfx.rect(bx, by, bw, bh, 1)
      gfx.set(1, 1, 1) gfx.x, gfx.y = bx + 10, by + 5 gfx.drawstr("Cancel #" .. i)
      if click and inside(bx, by, bw, bh) then pressed = i end
    end
  end
  gfx.update()
  self.previous_cap = gfx.mouse_cap
  if key == 27 then return "all" end
  return pressed
end

function window:close()
  if self.open then gfx.quit() end
  self.open = false
end

---------------------------------------------------------------------------
-- Importing stems: a folder "<track> stems" right under each source track
---------------------------------------------------------------------------

local import = {}
M.import = import

local function resolve(file, result_dir)
  if path.is_absolute(file) then return file end
  return path.join(result_dir, file)
end

local function group_of(groups, order, stem)
  local key = stem.track_guid or stem.track or stem.input
  local group = groups[key]
  if not group then
    group = { track_guid = stem.track_guid, track = stem.track, input = stem.input,
      stem_names = {}, known = {}, items = {}, item_order = {}, looks = {},
      stems_as = stem.stems_as == "takes" and "takes" or "tracks" }
    groups[key] = group
    order[#order + 1] = group
  end
  return group
end

local function add_stem(group, stem, file)
  if not group.known[stem.name] then
    group.known[stem.name] = true
    group.stem_names[#group.stem_names + 1] = stem.name
    group.looks[stem.name] = { name = stem.track_name, color = stem.color }
  end
  local key = stem.item_guid or stem.input
  local item = group.items[key]
  if not item then
    item = { item_guid = stem.item_guid, position_s = stem.position_s or 0,
      length_s = stem.length_s, files = {} }
    group.items[key] = item
    group.item_order[#group.item_order + 1] = item
  end
  item.files[stem.name] = file
end

--- Read a result manifest and check every stem file is there, before anything changes.
function import.plan(result_file)
  local text, read_err = path.read(result_file)
  if not text then return nil, result_file .. ": cannot read (" .. tostring(read_err) .. ")" end
  local doc, err = json.decode(text)
  if type(doc) ~= "table" then
    return nil, result_file .. ": not valid JSON (" .. tostring(err) .. ")"
  end
  if doc.version ~= 1 or type(doc.stems) ~= "table" then
    return nil, result_file .. ": not a samaudio-daw result manifest (version 1 with \"stems\")"
  end
  if #doc.stems == 0 then return nil, result_file .. ": no stems in this result" end
  local groups, order, presets, seen = {}, {}, {}, {}
  local result_dir = path.dirname(result_file)
  for _, stem in ipairs(doc.stems) do
    local file = resolve(stem.file, result_dir)
    if not path.exists(file) then return nil, file .. ": stem file missing" end
    add_stem(group_of(groups, order, stem), stem, file)
    if stem.preset and not seen[stem.preset] then
      seen[stem.preset] = true
      presets[#presets + 1] = stem.preset
    end
  end
  return { groups = order, presets = presets }
end

local function depth(track)
  return math.floor(reaper.GetMediaTrackInfo_Value(track, "I_FOLDERDEPTH"))
end

--- Where a folder can go right under `source` at the same folder level: the index after
--- the source's last descendant, and the depth changes that keep every folder intact.
function import.insert_point(source)
  local index = math.floor(reaper.GetMediaTrackInfo_Value(source, "IP_TRACKNUMBER")) - 1
  local count = reaper.CountTracks(0)
  local level, before = 0, {}
  for i = 0, count - 1 do
    before[i] = level
    level = level + depth(reaper.GetTrack(0, i))
  end
  local source_level = before[index]
  local last = index
  while last < count - 1 and before[last] + depth(reaper.GetTrack(0, last)) > source_level do
    last = last + 1
  end
  local last_track = reaper.GetTrack(0, last)
  local kept = source_level - before[last]
  return { index = last + 1, last = last_track, last_depth = kept,
    closes = depth(last_track) - kept }
end

--- The import settings a producer keeps in REAPER (ExtState, see the README):
--- "stems_as" (tracks or takes, else each preset's choice) and "stem_track_name"
--- (a name pattern with {stem} and {track}, else the names the result gives).
import.STEMS_AS_KEY = "stems_as"
import.NAME_KEY = "stem_track_name"

function import.settings()
  local stems_as = reaper.GetExtState(M.EXT_SECTION, import.STEMS_AS_KEY)
  local pattern = reaper.GetExtState(M.EXT_SECTION, import.NAME_KEY)
  return {
    stems_as = (stems_as == "tracks" or stems_as == "takes") and stems_as or nil,
    pattern = pattern:find("{stem}", 1, true) and pattern or nil,
  }
end

--- "#RRGGBB" as REAPER's custom colour (I_CUSTOMCOLOR): the OS's native order with the
--- "custom colour" flag; nil for no colour.
function import.native_color(hex)
  if type(hex) ~= "string" or not hex:match("^#%x%x%x%x%x%x$") then return nil end
  local r, g, b = tonumber(hex:sub(2, 3), 16), tonumber(hex:sub(4, 5), 16),
    tonumber(hex:sub(6, 7), 16)
  return reaper.ColorToNative(r, g, b) | 0x1000000
end

--- A stem's track (or take) name: the setting's pattern, else the result's name.
local function stem_name_of(group, stem_name, settings, track_name)
  if settings.pattern then return names.stem_track(settings.pattern, stem_name, track_name) end
  return group.looks[stem_name].name or stem_name
end

local function new_track(index, name, folder_depth)
  reaper.InsertTrackAtIndex(index, false)
  local track = reaper.GetTrack(0, index)
  reaper.GetSetMediaTrackInfo_String(track, "P_NAME", name, true)
  reaper.SetMediaTrackInfo_Value(track, "I_FOLDERDEPTH", folder_depth)
  return track
end

--- Insert "<name> stems" and one child per stem, named and coloured as the group's
--- stems say; returns the children by stem name.
local function insert_folder(source, name, group, settings)
  local stem_names = group.stem_names
  local at, closes = reaper.CountTracks(0), 0
  if source then
    local point = import.insert_point(source)
    reaper.SetMediaTrackInfo_Value(point.last, "I_FOLDERDEPTH", point.last_depth)
    at, closes = point.index, point.closes
  end
  new_track(at, name .. " stems", 1)
  local children = {}
  for i, stem_name in ipairs(stem_names) do
    local last = i == #stem_names
    local title = stem_name_of(group, stem_name, settings, name)
    local track = new_track(at + i, title, last and (closes - 1) or 0)
    local color = import.native_color(group.looks[stem_name].color)
    if color then reaper.SetMediaTrackInfo_Value(track, "I_CUSTOMCOLOR", color) end
    children[stem_name] = track
  end
  return children
end

local ITEM_COPIES = {
  "D_FADEINLEN", "D_FADEOUTLEN", "D_FADEINLEN_AUTO", "D_FADEOUTLEN_AUTO", "C_FADEINSHAPE",
  "C_FADEOUTSHAPE", "D_FADEINDIR", "D_FADEOUTDIR", "D_VOL", "B_MUTE",
}
local TAKE_COPIES = { "D_VOL", "D_PAN" }

--- Item and take properties for a stem: the original item's, when it still exists.
local function stem_properties(entry)
  local props = { item = {}, take = {}, position_s = entry.position_s, length_s = entry.length_s }
  local original = entry.item_guid and project.find_item(entry.item_guid)
  if not original then return props end
  for _, key in ipairs(ITEM_COPIES) do
    props.item[key] = reaper.GetMediaItemInfo_Value(original, key)
  end
  local take = reaper.GetActiveTake(original)
  for _, key in ipairs(take and TAKE_COPIES or {}) do
    props.take[key] = reaper.GetMediaItemTakeInfo_Value(take, key)
  end
  -- Same place as when it was rendered: keep its exact length (no sample rounding).
  local position = reaper.GetMediaItemInfo_Value(original, "D_POSITION")
  if math.abs(position - entry.position_s) < 0.0005 then
    props.length_s = reaper.GetMediaItemInfo_Value(original, "D_LENGTH")
  end
  return props
end

local function add_stem_item(track, file, stem_name, props)
  local source = reaper.PCM_Source_CreateFromFile(file)
  if not source then return nil, file .. ": REAPER cannot open this stem" end
  local item = reaper.AddMediaItemToTrack(track)
  local take = reaper.AddTakeToMediaItem(item)
  reaper.SetMediaItemTake_Source(take, source)
  reaper.GetSetMediaItemTakeInfo_String(take, "P_NAME", stem_name, true)
  reaper.SetMediaItemInfo_Value(item, "D_POSITION", props.position_s)
  reaper.SetMediaItemInfo_Value(item, "D_LENGTH", props.length_s)
  reaper.SetMediaItemInfo_Value(item, "B_LOOPSRC", 0)
  for key, value in pairs(props.item) do reaper.SetMediaItemInfo_Value(item, key, value) end
  for key, value in pairs(props.take) do reaper.SetMediaItemTakeInfo_Value(take, key, value) end
  return item
end

--- The original items of a group's stems, or nil when one of them is gone (then the
--- stems cannot be its takes).
local function original_items(group)
  local found = {}
  for i, entry in ipairs(group.item_order) do
    found[i] = entry.item_guid and project.find_item(entry.item_guid)
    if not found[i] then return nil end
  end
  return found
end

--- One take per stem in each original item, after its takes; the active take is kept.
local function import_group_as_takes(group, originals, settings, name)
  local count = 0
  for i, entry in ipairs(group.item_order) do
    local item = originals[i]
    local active = reaper.GetActiveTake(item)
    for _, stem_name in ipairs(group.stem_names) do
      local file = entry.files[stem_name]
      if file then
        local source = reaper.PCM_Source_CreateFromFile(file)
        if not source then return nil, file .. ": REAPER cannot open this stem" end
        local take = reaper.AddTakeToMediaItem(item)
        reaper.SetMediaItemTake_Source(take, source)
        local title = stem_name_of(group, stem_name, settings, name)
        reaper.GetSetMediaItemTakeInfo_String(take, "P_NAME", title, true)
        for _, key in ipairs(active and TAKE_COPIES or {}) do
          reaper.SetMediaItemTakeInfo_Value(take, key, reaper.GetMediaItemTakeInfo_Value(active, key))
        end
        local color = import.native_color(group.looks[stem_name].color)
        if color then reaper.SetMediaItemTakeInfo_Value(take, "I_CUSTOMCOLOR", color) end
        count = count + 1
      end
    end
    if active then reaper.SetActiveTake(active) end -- a new take would be the active one
  end
  return count
end

local function import_group(group, settings)
  local source = (group.track_guid and project.find_track(group.track_guid))
    or (group.track and project.find_track_named(group.track))
  local name = source and project.track_name(source)
    or group.track or path.basename(group.input or "stems")
  if (settings.stems_as or group.stems_as) == "takes" then
    local originals = source and original_items(group)
    if originals then return import_group_as_takes(group, originals, settings, name) end
    M.console("samaudio: the items of '" .. name .. "' are gone; its stems go on new tracks")
  end
  local children = insert_folder(source, name, group, settings)
  local count = 0
  for _, entry in ipairs(group.item_order) do
    local props = stem_properties(entry)
    for stem_name, file in pairs(entry.files) do
      local item, err = add_stem_item(children[stem_name], file, stem_name, props)
      if not item then return nil, err end
      count = count + 1
    end
  end
  if source then reaper.SetMediaTrackInfo_Value(source, "B_MUTE", 1) end
  return count
end

--- The undo point's name: "samaudio: <preset>, <preset>".
function import.undo_name(plan)
  if #plan.presets == 0 then return M.TITLE .. ": import stems" end
  return M.TITLE .. ": " .. table.concat(plan.presets, ", ")
end

--- Import a planned result in one undo block; returns the number of stem items.
function import.apply(plan)
  local total, failure = 0, nil
  local settings = import.settings()
  reaper.Undo_BeginBlock()
  reaper.PreventUIRefresh(1)
  for _, group in ipairs(plan.groups) do
    local ok, count, err = pcall(import_group, group, settings)
    if not ok then failure = count break end
    if count == nil then failure = err break end
    total = total + count
  end
  reaper.PreventUIRefresh(-1)
  reaper.TrackList_AdjustWindows(false)
  reaper.UpdateArrange()
  reaper.Undo_EndBlock(import.undo_name(plan), -1)
  if failure then
    return nil, tostring(failure) .. " (use Undo to remove the part that was imported)"
  end
  return total
end

--- Plan and apply; returns the number of stem items, or nil and a one-line error.
function import.run(result_file)
  local plan, err = import.plan(result_file)
  if not plan then return nil, err end
  return import.apply(plan)
end

---------------------------------------------------------------------------
-- Action: separate items (selected items, or the items on the selected tracks)
---------------------------------------------------------------------------

local separate = {}
M.separate = separate

--- What each of `texts` asks for, by samaudio-daw's one rule (`samaudio-daw resolve`):
--- [tag], {prompt}, a preset's name, a preset's name patterns, else a prompt; with
--- `track_names`, a name that selects no preset asks for nothing. Returns a list with,
--- per text, {preset=...}, {prompts={...}} or false (nothing), or nil and the first
--- problem. The texts travel in a file, so no name is ever read by a shell.
function names.resolve(cfg, texts, track_names)
  local base = job.base_folder()
  reaper.RecursiveCreateDirectory(base, 0)
  local file = path.join(base, string.format("resolve-%d-%d.json", os.time(), math.random(1, 1e9)))
  if not path.write_atomic(file, json.encode(json.array(texts))) then
    return nil, "cannot write " .. file .. "; check the project's media folder"
  end
  local args = { "resolve", "--json", "--from", file }
  if track_names then args[#args + 1] = "--track-names" end
  local code, output = config.run_blocking(cfg, args, 30000)
  os.remove(file)
  if not code then return nil, output end
  local start = output:find("[%[{]")
  local entries = start and json.decode(output:sub(start)) or nil
  if type(entries) == "table" and type(entries.error) == "string" then
    return nil, "samaudio-daw: error: " .. entries.error
  end
  if code ~= 0 or type(entries) ~= "table" or #entries ~= #texts then
    local last = output:match("([^\r\n]+)[\r\n]*$") or "no output"
    return nil, "samaudio-daw resolve failed (exit code " .. code .. "): " .. last
  end
  local result = {}
  for i, entry in ipairs(entries) do
    if entry.kind == "error" then
      return nil, track_names and ("track '" .. texts[i] .. "': " .. entry.reason) or entry.reason
    end
    if entry.kind == "nothing" then
      result[i] = false
    elseif entry.preset then
      result[i] = { preset = entry.preset }
    else
      result[i] = { prompts = entry.prompts }
    end
  end
  return result
end

separate.POLL_S = 0.2

local function ask_selection(cfg, track_name)
  local last = reaper.GetExtState(M.EXT_SECTION, "last_answer")
  local title = M.TITLE .. ": what to separate from '" .. track_name .. "'"
  local ok, answer = reaper.GetUserInputs(title, 1, "Preset name or prompt:,extrawidth=240", last)
  if not ok then return nil end -- the user cancelled: stop quietly
  if trim(answer) == "" then return nil, "track '" .. track_name .. "': nothing entered" end
  local found, err = names.resolve(cfg, { answer }, false)
  if not found then return nil, "track '" .. track_name .. "': " .. err end
  reaper.SetExtState(M.EXT_SECTION, "last_answer", answer, true)
  return found[1]
end

--- What to separate from each track (by track GUID): what its name asks for, or the
--- user's answer. Returns nil and a message (or nil alone when the user cancelled).
function separate.selections(cfg, infos)
  local order, seen = {}, {}
  for _, info in ipairs(infos) do
    if not seen[info.track_guid] then
      seen[info.track_guid] = true
      order[#order + 1] = info
    end
  end
  local track_names = {}
  for i, info in ipairs(order) do track_names[i] = info.track_name end
  local found, err = names.resolve(cfg, track_names, true)
  if not found then return nil, err end
  local by_track = {}
  for i, info in ipairs(order) do
    local selection = found[i]
    if not selection then
      selection, err = ask_selection(cfg, info.track_name)
      if not selection then return nil, err end
    end
    by_track[info.track_guid] = selection
  end
  return by_track
end

function separate.describe(items)
  local infos = {}
  for _, item in ipairs(items) do
    local info, err = render.describe(item)
    if not info then return nil, err end
    infos[#infos + 1] = info
  end
  return infos
end

local function accept_take_fx(infos)
  for _, info in ipairs(infos) do
    if info.take_fx > 0 then
      local text = "The " .. info.where .. " has take FX. REAPER's audio accessor reads " ..
        "a take before its FX, so samaudio-daw will hear it without them.\n\nContinue anyway?"
      local answer = reaper.ShowMessageBox(text, M.TITLE, 1)
      return answer == 1
    end
  end
  return true
end

--- Render every item into a new job folder and write its manifest; returns the folder.
function separate.prepare(cfg, infos, selections)
  local dir, err = job.new_folder()
  if not dir then return nil, err end
  local ts_start, ts_end = project.time_selection()
  local time_selection = ts_start and { ts_start, ts_end } or nil
  local regions = project.regions()
  local items = {}
  for i, info in ipairs(infos) do
    local name = string.format("%02d-%s", i, names.slug(info.track_name))
    local frames, render_err = render.to_wav(info, path.join(dir, "input", name .. ".wav"))
    if not frames then return nil, render_err end
    -- The dsp backend takes no time spans; others get the time selection and regions,
    -- and the preset decides whether they reach the model.
    local spans = cfg.backend ~= "dsp" and
      project.spans(info.position_s, info.length_s, time_selection, regions) or nil
    items[i] = job.item(info, "input/" .. name .. ".wav", name, selections[info.track_guid], spans)
  end
  local _, project_file = reaper.EnumProjects(-1)
  local text = json.encode(job.manifest(items, cfg, project_file), "  ") .. "\n"
  local ok, write_err = path.write_atomic(path.join(dir, "job.json"), text)
  if not ok then return nil, "cannot write the job manifest: " .. tostring(write_err) end
  return dir
end

--- The whole action; `mode` is "items" (selected items) or "tracks" (selected tracks).
function separate.run(script_dir, mode)
  local cfg, err = config.load(script_dir)
  if not cfg then return M.message(err, M.TITLE .. ": bridge missing") end
  local items = mode == "tracks" and project.items_on_selected_tracks() or project.selected_items()
  if #items == 0 then
    return M.message(mode == "tracks"
      and "Select one or more tracks that have items (and, optionally, a time selection) first."
      or "Select one or more items first.", M.TITLE)
  end
  local infos, selections, dir
  infos, err = separate.describe(items)
  if not infos then return M.message(err, M.TITLE) end
  selections, err = separate.selections(cfg, infos)
  if not selections then
    if err then M.message(err, M.TITLE .. ": separation failed") end
    return
  end
  if not accept_take_fx(infos) then return end
  dir, err = separate.prepare(cfg, infos, selections)
  if not dir then return M.message(err, M.TITLE) end
  local followed, queue_err = M.queue.submit(cfg, dir,
    { kind = "separate", title = "separate " .. #infos .. " item(s)" })
  if not followed then return M.message(queue_err, M.TITLE .. ": bridge failed") end
  return followed
end

---------------------------------------------------------------------------
-- Action: choose a preset for the selected tracks (writes the [tag])
---------------------------------------------------------------------------

local presets = {}
M.presets = presets

--- The presets `samaudio-daw presets list --json` reports, or nil and why not.
function presets.list(cfg)
  local code, output = config.run_blocking(cfg, { "presets", "list", "--json" }, 30000)
  if not code then return nil, output end
  local start = output:find("[", 1, true)
  if code ~= 0 or not start then
    local last = output:match("([^\r\n]+)[\r\n]*$") or "no output"
    return nil, "samaudio-daw presets list failed (exit code " .. code .. "): " .. last
  end
  local list = json.decode(output:sub(start))
  if type(list) ~= "table" or #list == 0 then return nil, "samaudio-daw reported no presets" end
  return list
end

local function menu_text(text)
  return (text:gsub("|", "/"):gsub("^[#!<>]+", ""))
end

--- gfx.showmenu text: one entry per preset, then "Clear preset tag" (no separators,
--- so entry n is preset n).
function presets.menu(list)
  local entries = {}
  for i, preset in ipairs(list) do
    local description = tostring(preset.description or "")
    if #description > 60 then description = description:sub(1, 57) .. "..." end
    entries[i] = menu_text(preset.name .. (description ~= "" and ("  -  " .. description) or ""))
  end
  entries[#entries + 1] = "Clear preset tag"
  return table.concat(entries, "|")
end

function presets.choose(script_dir)
  local cfg, err = config.load(script_dir)
  if not cfg then return M.message(err, M.TITLE .. ": bridge missing") end
  local count = reaper.CountSelectedTracks(0)
  if count == 0 then return M.message("Select one or more tracks first.", M.TITLE) end
  local list, list_err = presets.list(cfg)
  if not list then return M.message(list_err, M.TITLE .. ": presets") end
  gfx.init(M.TITLE .. ": presets", 0, 0)
  gfx.x, gfx.y = gfx.mouse_x, gfx.mouse_y
  local choice = gfx.showmenu(presets.menu(list))
  gfx.quit()
  if choice < 1 or choice > #list + 1 then return end
  local chosen = list[choice] and list[choice].name
  reaper.Undo_BeginBlock()
  for i = 0, count - 1 do
    local track = reaper.GetSelectedTrack(0, i)
    local name = project.track_name(track)
    local renamed = chosen and names.with_tag(name, chosen) or names.without_tag(name)
    reaper.GetSetMediaTrackInfo_String(track, "P_NAME", renamed, true)
  end
  local what = chosen and ("preset " .. chosen) or "clear preset tag"
  reaper.Undo_EndBlock(M.TITLE .. ": " .. what, -1)
end

---------------------------------------------------------------------------
-- Action: import a result manifest (from `samaudio-daw render`, `run` or the OSC server)
---------------------------------------------------------------------------

function import.choose_and_run()
  local title = M.TITLE .. ": import stems from result.json"
  local ok, file = reaper.GetUserFileNameForRead("", title, "json")
  if not ok then return end
  local count, err = import.run(file)
  if not count then return M.message(err, M.TITLE .. ": import failed") end
  M.console(string.format("imported %d stem item(s) from %s", count, file))
end

---------------------------------------------------------------------------
-- Action: import the result of the job `samaudio-daw serve` finished last
---------------------------------------------------------------------------

-- REAPER's /action carries no arguments, so the server writes the finished job to a
-- "done file" before it sends the action: {"job_id", "result", "finished"}.
import.DONE_FILE = { "samaudio-daw", "last-result.json" }
import.LAST_OSC_KEY = "last_osc_import"

--- Python's tempfile.gettempdir() as far as the environment tells it: the first of
--- TMPDIR, TEMP, TMP that is set, else the system's temporary folder.
function import.temp_folder(getenv, windows)
  for _, name in ipairs({ "TMPDIR", "TEMP", "TMP" }) do
    local value = getenv(name)
    if value and value ~= "" then return value end
  end
  if not windows then return "/tmp" end
  local profile = getenv("USERPROFILE")
  if profile and profile ~= "" then return path.join(profile, "AppData", "Local", "Temp") end
  return "C:\\Temp"
end

--- Where `samaudio-daw serve` writes the done file: the config's "done_file" (from
--- `samaudio-daw reaper install --done-file`), else the server's default. Nil and why not.
function import.done_file(script_dir)
  local found = config.find(script_dir)
  if found.error then return nil, found.error end
  local configured = type(found.doc) == "table" and found.doc.done_file or nil
  if configured == nil then
    local temp = import.temp_folder(os.getenv, path.is_windows)
    return path.join(temp, table.unpack(import.DONE_FILE))
  end
  if type(configured) ~= "string" or configured == "" then
    return nil, found.file .. ": \"done_file\" is not a file path; run " ..
      "`samaudio-daw reaper install --done-file FILE` again"
  end
  return configured
end

--- The done file's contents ({job_id, result, finished}), or nil and a one-line reason.
function import.read_done_file(file)
  local text = path.read(file)
  if not text then
    return nil, file .. ": no finished job yet (samaudio-daw serve writes this file when a " ..
      "job is done; a server started with --done-file FILE needs " ..
      "`samaudio-daw reaper install --done-file FILE`)"
  end
  local doc, err = json.decode(text)
  if doc == nil then return nil, file .. ": not valid JSON (" .. tostring(err) .. ")" end
  if type(doc) ~= "table" or type(doc.job_id) ~= "string" or doc.job_id == "" or
      type(doc.result) ~= "string" or doc.result == "" or type(doc.finished) ~= "number" then
    return nil, file .. ": not a samaudio-daw done file " ..
      "(needs \"job_id\", \"result\" and \"finished\")"
  end
  return doc
end

--- What is remembered of an imported job: its id and when it finished.
function import.done_key(done)
  return done.job_id .. "|" .. json.encode(done.finished)
end

local function already_imported(done)
  local ok, finished = pcall(os.date, "%Y-%m-%d %H:%M:%S", math.floor(done.finished))
  if not ok then finished = "finished " .. json.encode(done.finished) end
  return string.format("The last finished job (%s, %s) is already imported; nothing new. " ..
    "To import it again, use 'samaudio - Import stems from result' on %s",
    done.job_id, finished, done.result)
end

--- Import the result named in the done file, unless it was imported already.
function import.run_last_osc_result(script_dir)
  local title = M.TITLE .. ": import last OSC result"
  local file, err = import.done_file(script_dir)
  if not file then return M.message(err, title) end
  local done
  done, err = import.read_done_file(file)
  if not done then return M.message(err, title) end
  local key = import.done_key(done)
  if reaper.GetExtState(M.EXT_SECTION, import.LAST_OSC_KEY) == key then
    return M.message(already_imported(done), title)
  end
  local count
  count, err = import.run(done.result)
  if not count then return M.message(err, M.TITLE .. ": import failed") end
  -- Persisted, so a stray trigger after a restart does not import the same stems again.
  reaper.SetExtState(M.EXT_SECTION, import.LAST_OSC_KEY, key, true)
  M.console(string.format("imported %d stem item(s) of job %s from %s", count, done.job_id,
    done.result))
end

---------------------------------------------------------------------------
-- The queue: every action's job goes to one `samaudio-daw queue run` process
---------------------------------------------------------------------------

-- Each action drops its job folder under job.base_folder() (with a file "queued") and
-- returns at once; one runner per jobs folder runs them (one at a time on a GPU, up to
-- "jobs" of the config at once on the CPU). One window follows every job this REAPER
-- queued, imports each as it ends, shows time left and cancels any one of them.

local queue = {}
M.queue = queue
queue.JOBS_KEY = "queue_jobs" -- ExtState: the jobs followed (JSON list)
queue.WINDOW_KEY = "queue_window" -- ExtState: time_precise of the window's last round
queue.STARTED_KEY = "queue_started" -- ExtState: when we last started a runner
queue.HEARTBEAT_S = 5 -- the runner rewrites queue.json five times a second
queue.START_GRACE_S = 30 -- a runner just started may take this long to say it runs
queue.PREFIX = "queue-" -- the runner's launcher, log and exit code in the jobs folder

function queue.entries()
  local text = reaper.GetExtState(M.EXT_SECTION, queue.JOBS_KEY)
  local list = text ~= "" and json.decode(text) or nil
  return type(list) == "table" and list or {}
end

local function save_entries(list)
  if #list == 0 then return reaper.DeleteExtState(M.EXT_SECTION, queue.JOBS_KEY, false) end
  reaper.SetExtState(M.EXT_SECTION, queue.JOBS_KEY, json.encode(json.array(list)), false)
end

--- Whether a runner answers for `base`: its heartbeat file is recent.
function queue.runner_alive(base)
  local text = path.read(path.join(base, "queue.json"))
  local doc = text and json.decode(text)
  return type(doc) == "table" and tonumber(doc.updated) ~= nil
    and os.time() - doc.updated < queue.HEARTBEAT_S
end

--- The exit code of the last runner started for `base`, or nil while it runs.
function queue.runner_exit(base)
  local text = path.read(path.join(base, queue.PREFIX .. "exit_code.txt"))
  return text and tonumber(text:match("%-?%d+"))
end

--- Start a runner for `base` unless one runs or is starting.
function queue.ensure_runner(cfg, base)
  if queue.runner_alive(base) then return true end
  local started = tonumber(reaper.GetExtState(M.EXT_SECTION, queue.STARTED_KEY))
  if started and reaper.time_precise() - started < queue.START_GRACE_S
      and not queue.runner_exit(base) then
    return true
  end
  os.remove(path.join(base, queue.PREFIX .. "exit_code.txt")) -- our launcher's, from before
  reaper.SetExtState(M.EXT_SECTION, queue.STARTED_KEY, tostring(reaper.time_precise()), false)
  local argv = config.argv(cfg, { "queue", "run", base, "--jobs", tostring(cfg.jobs) })
  return bridge.launch(argv, base, queue.PREFIX)
end

--- Queue the job whose job.json is in `dir` and follow it. `entry`: {kind, title, ...}
--- ("separate", "audition" or "commit"). Returns the window's context, or nil and why.
function queue.submit(cfg, dir, entry)
  local ok, err = path.write_atomic(path.join(dir, "queued"), "queued by REAPER\n")
  if not ok then return nil, "cannot queue the job in " .. dir .. " (" .. tostring(err) .. ")" end
  entry.dir, entry.base = dir, path.dirname(dir)
  local list = queue.entries()
  list[#list + 1] = entry
  save_entries(list)
  local started, start_err = queue.ensure_runner(cfg, entry.base)
  if not started then return nil, start_err end
  return queue.follow(cfg)
end

local function duration(seconds)
  seconds = math.floor(seconds + 0.5)
  if seconds < 60 then return seconds .. " s" end
  return string.format("%d min %02d s", seconds // 60, seconds % 60)
end
queue.duration = duration

--- One window row for a job still going.
function queue.row(entry, status, cancelling)
  local text, fraction = entry.title .. ": ", 0
  if cancelling then
    text = text .. "cancelling..."
  elseif not status or status.state == "queued" then
    text = text .. (status and status.message or "waiting for samaudio-daw")
    if entry.estimate_s then text = text .. ", about " .. duration(entry.estimate_s) end
  else
    fraction = tonumber(status.progress) or 0
    text = text .. string.format("%d%%", math.floor(100 * fraction + 0.5))
    if tonumber(status.left_s) then text = text .. ", " .. duration(status.left_s) .. " left" end
  end
  return { text = text, fraction = fraction, cancelling = cancelling }
end

local FINAL = { done = true, failed = true, cancelled = true }

--- What happens once a job has ended: import its stems, or say why not.
function queue.finish(entry, status, cancelling)
  if status.state == "done" and not cancelling then
    local result = status.result or path.join(entry.dir, "stems", "result.json")
    if entry.kind == "audition" then return M.audition.show(entry, result, status) end
    local count, err = import.run(result)
    if not count then M.message(err, M.TITLE .. ": import failed") end
  elseif status.state == "failed" then
    M.message(status.message or "samaudio-daw failed", M.TITLE .. ": separation failed")
  elseif cancelling or status.state == "cancelled" then
    M.console(entry.title .. ": cancelled; the project was not changed")
  else
    local line = bridge.last_error(entry.base, queue.PREFIX) or string.format(
      "samaudio-daw stopped (exit code %s) without finishing; see %s", tostring(status.code),
      path.join(entry.base, queue.PREFIX .. "bridge.log"))
    M.message(line, M.TITLE .. ": separation failed")
  end
end

--- One round: finish the jobs that ended, restart a runner that idled out too early;
--- returns the rows of the jobs still going.
function queue.round(ctx)
  local rows, ended = {}, {}
  for _, entry in ipairs(queue.entries()) do
    local status = bridge.poll(entry.dir)
    local cancelling = ctx.cancelling[entry.dir]
    local code = not queue.runner_alive(entry.base) and queue.runner_exit(entry.base)
    if status and FINAL[status.state] then
      ended[entry.dir] = true
      queue.finish(entry, status, cancelling)
    elseif code and code ~= 0 then -- the runner could not start (its log says why)
      ended[entry.dir] = true
      queue.finish(entry, { state = "exited", code = code }, cancelling)
    else
      if cancelling then bridge.request_cancel(entry.dir) end
      if code == 0 then queue.ensure_runner(ctx.cfg, entry.base) end -- it idled out too soon
      rows[#rows + 1] = queue.row(entry, status, cancelling)
    end
  end
  -- Read again: an action may have queued a job while a finish above showed a dialog.
  local kept = {}
  for _, entry in ipairs(queue.entries()) do
    if not ended[entry.dir] then kept[#kept + 1] = entry end
  end
  save_entries(kept)
  return rows, #kept
end

local function end_following(ctx)
  ctx.finished = true
  ctx.window:close()
  for _, key in ipairs({ queue.WINDOW_KEY, queue.STARTED_KEY }) do
    reaper.DeleteExtState(M.EXT_SECTION, key, false)
  end
end

--- Follow every queued job in one window until all have ended; an action run while
--- the window is open only adds its job to it.
function queue.follow(cfg)
  local beat = tonumber(reaper.GetExtState(M.EXT_SECTION, queue.WINDOW_KEY))
  if beat and reaper.time_precise() - beat < 1 then return { joined = true } end
  local ctx = { cfg = cfg, window = window.open(M.TITLE .. ": queue"), rows = {},
    cancelling = {}, ended = {}, last_poll = -math.huge, finished = false }
  reaper.atexit(function()
    if ctx.finished then return end
    for _, entry in ipairs(queue.entries()) do bridge.request_cancel(entry.dir) end
    end_following(ctx)
  end)
  local function step()
    reaper.SetExtState(M.EXT_SECTION, queue.WINDOW_KEY, tostring(reaper.time_precise()), false)
    local now = reaper.time_precise()
    if now - ctx.last_poll >= separate.POLL_S then
      ctx.last_poll = now
      local rows, left = queue.round(ctx)
      ctx.rows = rows
      if left == 0 then return end_following(ctx) end
    end
    local pressed = ctx.window:draw_rows(ctx.rows, "starting samaudio-daw...")
    local entries = queue.entries()
    for i, entry in ipairs(entries) do
      if pressed == "all" or pressed == i then
        ctx.cancelling[entry.dir] = true
        bridge.request_cancel(entry.dir)
        ctx.rows[i] = queue.row(entry, nil, true)
      end
    end
    if pressed == "all" and not ctx.window.open then
      -- closed: the jobs are cancelled; nothing more to show
      for _, entry in ipairs(entries) do M.console(entry.title .. ": cancelled") end
      save_entries({})
      return end_following(ctx)
    end
    reaper.defer(step)
  end
  step()
  return ctx
end

---------------------------------------------------------------------------
-- Audition: a preset on a short part, in a temporary folder; Discard; Commit
---------------------------------------------------------------------------

local audition = {}
M.audition = audition
audition.SECONDS = 20 -- without a time selection: the first 20 s of each item
audition.PREFIX = "AUDITION \u{2013} " -- the temporary folder's name: "AUDITION – <preset>"
audition.KEY = "audition" -- ExtState: the last audition's settings, for Commit

--- The part of each item to audition: the time selection where it overlaps the item,
--- else the item's first audition.SECONDS. Items outside a time selection are left out.
function audition.parts(infos)
  local ts_start, ts_end = project.time_selection()
  local parts = {}
  for _, info in ipairs(infos) do
    local from, to = info.position_s, info.position_s + math.min(info.length_s, audition.SECONDS)
    if ts_start then
      from, to = math.max(ts_start, info.position_s), math.min(ts_end, info.position_s + info.length_s)
    end
    if to - from > 0.01 then
      parts[#parts + 1] = setmetatable(
        { offset_s = from - info.position_s, position_s = from, length_s = to - from },
        { __index = info })
    end
  end
  return parts
end

local function label_of(infos, selections)
  local seen, labels = {}, {}
  for _, info in ipairs(infos) do
    local selection = selections[info.track_guid]
    local label = selection.preset or table.concat(selection.prompts, ", ")
    if not seen[label] then seen[label] = true labels[#labels + 1] = label end
  end
  return table.concat(labels, ", ")
end

--- The tracks of the audition folder (the folder first), or an empty list.
function audition.tracks()
  for i = 0, reaper.CountTracks(0) - 1 do
    local track = reaper.GetTrack(0, i)
    if project.track_name(track):sub(1, #audition.PREFIX) == audition.PREFIX then
      local found, level = { track }, reaper.GetMediaTrackInfo_Value(track, "I_FOLDERDEPTH")
      local j = i + 1
      while level > 0 and j < reaper.CountTracks(0) do
        local child = reaper.GetTrack(0, j)
        found[#found + 1] = child
        level = level + reaper.GetMediaTrackInfo_Value(child, "I_FOLDERDEPTH")
        j = j + 1
      end
      return found
    end
  end
  return {}
end

--- Remove the audition folder and its tracks (inside the caller's undo block).
function audition.remove()
  local tracks = audition.tracks()
  for i = #tracks, 1, -1 do reaper.DeleteTrack(tracks[i]) end
  return #tracks
end

--- An audition stem: the import's own item, with no item or take properties copied.
local function audition_item(track, file, name, position_s, length_s)
  local props = { position_s = position_s, length_s = length_s, item = {}, take = {} }
  local item, err = add_stem_item(track, file, name, props)
  if not item then error(err) end
end

local function show_plan(plan, label)
  audition.remove()
  local names_in_order, seen = {}, {}
  for _, group in ipairs(plan.groups) do
    for _, name in ipairs(group.stem_names) do
      if not seen[name] then seen[name] = true names_in_order[#names_in_order + 1] = name end
    end
  end
  local at = reaper.CountTracks(0)
  new_track(at, audition.PREFIX .. label, 1)
  local children = {}
  for i, name in ipairs(names_in_order) do
    children[name] = new_track(at + i, name, i == #names_in_order and -1 or 0)
  end
  for _, group in ipairs(plan.groups) do
    for _, entry in ipairs(group.item_order) do
      for name, file in pairs(entry.files) do
        audition_item(children[name], file, name, entry.position_s, entry.length_s)
      end
    end
  end
end

--- Show a finished audition: the previous one goes, the new folder comes, one undo step.
function audition.show(entry, result_file, status)
  local plan, err = import.plan(result_file)
  if not plan then return M.message(err, M.TITLE .. ": import failed") end
  reaper.Undo_BeginBlock()
  reaper.PreventUIRefresh(1)
  local ok, show_err = pcall(show_plan, plan, entry.label)
  reaper.PreventUIRefresh(-1)
  reaper.TrackList_AdjustWindows(false)
  reaper.UpdateArrange()
  reaper.Undo_EndBlock(M.TITLE .. ": audition " .. entry.label, -1)
  if not ok then return M.message(tostring(show_err), M.TITLE .. ": import failed") end
  local settings = { dir = entry.dir, label = entry.label, items = entry.items,
    selections = entry.selections, audition_s = status.audition_s,
    estimate_s = status.estimate_full_s }
  reaper.SetExtState(M.EXT_SECTION, audition.KEY, json.encode(settings), false)
  M.console(string.format("audition of %s: %s of audio took %s; the full separation " ..
    "would take about %s", entry.label, duration(tonumber(status.audio_s) or 0),
    duration(tonumber(status.audition_s) or 0), duration(tonumber(status.estimate_full_s) or 0)))
end

--- The action "Audition preset on selection".
function audition.run(script_dir)
  local cfg, err = config.load(script_dir)
  if not cfg then return M.message(err, M.TITLE .. ": bridge missing") end
  local items = project.selected_items()
  if #items == 0 then
    return M.message("Select one or more items first (and, optionally, a time selection).",
      M.TITLE)
  end
  local infos, selections, dir
  infos, err = separate.describe(items)
  if not infos then return M.message(err, M.TITLE) end
  local parts = audition.parts(infos)
  if #parts == 0 then
    return M.message("The time selection does not cross any selected item.", M.TITLE)
  end
  selections, err = separate.selections(cfg, infos)
  if not selections then
    if err then M.message(err, M.TITLE .. ": audition failed") end
    return
  end
  if not accept_take_fx(infos) then return end
  dir, err = separate.prepare(cfg, parts, selections)
  if not dir then return M.message(err, M.TITLE) end
  local full = 0
  local guids = {}
  for i, info in ipairs(infos) do full, guids[i] = full + info.length_s, info.item_guid end
  path.write_atomic(path.join(dir, "audition.json"), json.encode({ full_length_s = full }) .. "\n")
  local label = label_of(infos, selections)
  local followed, queue_err = queue.submit(cfg, dir, { kind = "audition", label = label,
    title = "audition " .. label, items = json.array(guids), selections = selections })
  if not followed then return M.message(queue_err, M.TITLE .. ": bridge failed") end
  return followed
end

--- The action "Discard audition": the audition folder goes, in one undo step.
function audition.discard()
  if #audition.tracks() == 0 then return M.message("There is no audition to discard.", M.TITLE) end
  reaper.Undo_BeginBlock()
  reaper.PreventUIRefresh(1)
  audition.remove()
  reaper.PreventUIRefresh(-1)
  reaper.TrackList_AdjustWindows(false)
  reaper.UpdateArrange()
  reaper.Undo_EndBlock(M.TITLE .. ": discard audition", -1)
  reaper.DeleteExtState(M.EXT_SECTION, audition.KEY, false)
end

--- The action "Commit audition": the full separation of the auditioned items with the
--- same settings, queued like Separate; the window shows the audition's estimate.
function audition.commit(script_dir)
  local cfg, err = config.load(script_dir)
  if not cfg then return M.message(err, M.TITLE .. ": bridge missing") end
  local text = reaper.GetExtState(M.EXT_SECTION, audition.KEY)
  local settings = text ~= "" and json.decode(text) or nil
  if type(settings) ~= "table" then
    return M.message("There is no audition to commit: run \"Audition preset on selection\" first.",
      M.TITLE)
  end
  local items = {}
  for i, guid in ipairs(settings.items) do
    items[i] = project.find_item(guid)
    if not items[i] then
      return M.message("An auditioned item is gone (" .. guid .. "); audition again.", M.TITLE)
    end
  end
  local infos, dir
  infos, err = separate.describe(items)
  if not infos then return M.message(err, M.TITLE) end
  dir, err = separate.prepare(cfg, infos, settings.selections)
  if not dir then return M.message(err, M.TITLE) end
  local followed, queue_err = queue.submit(cfg, dir, { kind = "commit",
    title = "commit " .. settings.label, estimate_s = settings.estimate_s })
  if not followed then return M.message(queue_err, M.TITLE .. ": bridge failed") end
  return followed
end

return M
