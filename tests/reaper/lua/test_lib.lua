--[[
test_lib.lua: unit tests for samaudio_lib.lua and for the emulation's strictness.

    lua5.4 test_lib.lua LIBRARY OUTPUT_DIR PYTHON

Prints one line per failed check and exits 1 if any failed. Writes a job manifest
and a WAV file into OUTPUT_DIR for the Python side to check (schema, soundfile).
]]

local here = debug.getinfo(1, "S").source:match("^@(.*)[/\\]") or "."
package.path = here .. "/../emulation/?.lua;" .. package.path
local emu = require("reaper_emu")

local library, out_dir = assert(arg[1], "library path"), assert(arg[2], "output folder")
local python = assert(arg[3], "the Python that runs samaudio-daw")
emu.setup({ tick_s = 0 })
local lib = dofile(library)
local json, names, path, project = lib.json, lib.names, lib.path, lib.project

local failures, checks = {}, 0

local function check(condition, message)
  checks = checks + 1
  if not condition then failures[#failures + 1] = message end
end

local function same(a, b)
  return emu.encode_json(a) == emu.encode_json(b)
end

local function close(a, b) return math.abs(a - b) < 1e-9 end

-- JSON ---------------------------------------------------------------------

local function test_json()
  local value = {
    text = 'quote " backslash \\ newline \n tab \t é', n = -3, x = 1.5, tiny = 1e-7,
    big = 2 ^ 53, list = json.array({ 1, "two", true, false }), empty = json.array({}),
    nested = { a = json.array({ json.array({ "+", 0.25, 1 }) }) },
  }
  local text = json.encode(value)
  local back = assert(json.decode(text))
  check(back.text == value.text, "json: string round trip")
  check(back.n == -3 and math.type(back.n) == "integer", "json: integers stay integers")
  check(back.x == 1.5 and back.tiny == 1e-7 and back.big == 2 ^ 53, "json: floats round trip")
  check(#back.list == 4 and back.list[2] == "two" and back.list[4] == false, "json: arrays")
  check(json.encode(back.empty) == "[]" and json.encode({}) == "{}", "json: empty array vs object")
  check(close(back.nested.a[1][2], 0.25), "json: nested arrays")
  check(json.encode(0.1) == "0.1", "json: shortest float text, got " .. json.encode(0.1))
  check(json.decode('"\\u00e9\\ud83c\\udfb5"') == "é🎵", "json: \\u escapes and surrogate pairs")
  local list = json.decode("[1, null, 3]")
  check(#list == 3 and list[2] == json.null, "json: null inside arrays keeps the length")
  local object = json.decode('{"a": null, "b": 2}')
  check(object.a == nil and object.b == 2, "json: null object values are left out")
  local bad, err = json.decode('{"a": 1,}')
  check(bad == nil and err:match("character %d+"), "json: errors say where")
  check(json.decode("[1] x") == nil, "json: trailing text is an error")
  check(json.encode("\1") == '"\\u0001"', "json: control characters are escaped")
  check(json.encode({ b = 1, a = 2 }, "  ") == '{\n  "a": 2,\n  "b": 1\n}', "json: pretty, sorted")
end

-- Track names ----------------------------------------------------------------

local function test_names()
  -- The rule itself lives in samaudio-daw (`resolve`): the script asks the real bridge.
  local cfg = { command = { python, "-m", "samaudio_daw" }, presets = json.array({}) }
  local tracks, err = names.resolve(cfg, {
    "Vox 2 [Lead Vocal]", "Field rec {the owl hooting} {wind }", "Guitar", "Gtr [drums] [Drums]",
    "vocals", 'Quote " $(touch pwned) `x`',
  }, true)
  check(tracks ~= nil, "names: resolve ran: " .. tostring(err))
  tracks = tracks or {}
  check(same(tracks[1], { preset = "lead-vocal" }), "names: tag")
  check(same(tracks[2], { prompts = { "the owl hooting", "wind" } }), "names: inline prompts")
  check(tracks[3] == false, "names: nothing to go on")
  check(same(tracks[4], { preset = "drums" }), "names: same tag twice")
  check(same(tracks[5], { preset = "lead-vocal" }), "names: a preset's name pattern")
  check(tracks[6] == false, "names: quotes and $() are only text")
  check(not path.exists(path.join(out_dir, "pwned")), "names: no shell ever read a name")
  local _
  _, err = names.resolve(cfg, { "Gtr [drums] [bass]" }, true)
  check(err and err:match("several"), "names: two tags are ambiguous")
  _, err = names.resolve(cfg, { "Gtr [drums] {the guitar}" }, true)
  check(err and err:match("both"), "names: tag and prompt are ambiguous")
  _, err = names.resolve(cfg, { "Gtr []" }, true)
  check(err and err:match("empty tag"), "names: empty tag")
  local answers = names.resolve(cfg, { " drum_kit ", "the owl hooting", "{the owl}" }, false) or {}
  check(same(answers[1], { preset = "drum-kit" }), "answer: a preset name")
  check(same(answers[2], { prompts = { "the owl hooting" } }), "answer: prompt")
  check(same(answers[3], { prompts = { "the owl" } }), "answer: {prompt}")
  check(names.with_tag("Vox  [old] {x} take 2", "lead-vocal") == "Vox take 2 [lead-vocal]", "with_tag")
  check(names.with_tag("[old]", "bass") == "[bass]", "with_tag on a tag-only name")
  check(names.without_tag("Vox [lead-vocal]") == "Vox", "without_tag")
  check(names.slug("Vox 2 [Lead Vocal]") == "vox-2-lead-vocal" and names.slug("[]") == "item", "slug")
end

-- Time spans ------------------------------------------------------------------

local function test_spans()
  local spans = project.spans(1.0, 1.5, { 1.2, 1.8 }, {
    { start_s = 2.0, end_s = 3.0 }, { start_s = 5, end_s = 6 }, { start_s = 0, end_s = 1.005 },
  })
  check(#spans == 2, "spans: only overlapping ones, at least 10 ms, got " .. #spans)
  check(spans[1][1] == "+" and close(spans[1][2], 0.2) and close(spans[1][3], 0.8), "spans: time selection")
  check(close(spans[2][2], 1.0) and close(spans[2][3], 1.5), "spans: region clipped to the item")
  check(#project.spans(0, 1, nil, {}) == 0 and json.encode(project.spans(0, 1, nil, {})) == "[]",
    "spans: none is an empty array")
end

-- Folder placement --------------------------------------------------------------

local function point_for(depths, source_index)
  local tracks = {}
  for i, d in ipairs(depths) do tracks[i] = { name = "t" .. i, depth = d } end
  emu.setup({ tick_s = 0, tracks = tracks })
  local p = lib.import.insert_point(reaper.GetTrack(0, source_index))
  return p.index, p.last_depth, p.closes, reaper.GetMediaTrackInfo_Value(p.last, "IP_TRACKNUMBER")
end

local function test_insert_point()
  local a, b, c, d = point_for({ 0, 0 }, 0)
  check(a == 1 and b == 0 and c == 0 and d == 1, "insert: plain track")
  a, b, c, d = point_for({ 1, 0, -1, 0 }, 0)
  check(a == 3 and b == -1 and c == 0 and d == 3, "insert: after a folder's last child")
  a, b, c = point_for({ 1, 0, -1 }, 2)
  check(a == 3 and b == 0 and c == -1, "insert: the last track of a folder hands over its closing")
  a, b, c = point_for({ 1, 1, 0, -2, 0 }, 1)
  check(a == 4 and b == -1 and c == -1, "insert: nested folder closing two levels")
end

-- Files for the Python side --------------------------------------------------------

local function test_files()
  local sep = package.config:sub(1, 1)
  local info = { track_name = "Vox [lead-vocal]", track_guid = "{T}", item_guid = "{I}",
    position_s = 1.25, length_s = 2.5 }
  local items = {
    lib.job.item(info, "input/01-vox.wav", "01-vox", { preset = "lead-vocal" }, project.spans(1, 2, { 1.5, 2 }, {})),
    lib.job.item(info, "input/02-x.wav", "02-x", { prompts = { "the owl" } }, json.array({})),
  }
  local manifest = lib.job.manifest(items, { backend = "sam-audio" }, "/tmp/song.rpp")
  assert(lib.path.write_atomic(out_dir .. sep .. "job.json", json.encode(manifest, "  ")))
  local header = lib.render.wav_header(44100, 3, 4, 12345)
  local samples = string.pack("<" .. string.rep("f", 12), 0, 0.5, -0.5, 0.25, 0, 0, 0, 0, 0, 0, 0, 1)
  assert(lib.path.write_atomic(out_dir .. sep .. "three.wav", header .. samples))
  header = lib.render.wav_header(48000, 1, 2, 0)
  assert(lib.path.write_atomic(out_dir .. sep .. "mono.wav", header .. string.pack("<ff", 0.5, -1)))
end

-- The emulation rejects what REAPER does not have -------------------------------------

local function rejects(fn, pattern, message)
  local ok, err = pcall(fn)
  check(not ok and tostring(err):match(pattern), message .. " (got " .. tostring(err) .. ")")
end

local function test_temp_folder()
  local function env(values) return function(name) return values[name] end end
  local temp = lib.import.temp_folder
  check(temp(env({ TMPDIR = "/a", TEMP = "/b", TMP = "/c" }), false) == "/a", "temp: TMPDIR first")
  check(temp(env({ TMPDIR = "", TEMP = "/b", TMP = "/c" }), false) == "/b", "temp: then TEMP")
  check(temp(env({ TMP = "/c" }), false) == "/c", "temp: then TMP")
  check(temp(env({}), false) == "/tmp", "temp: else /tmp")
  check(temp(env({ TEMP = "C:\\T" }), true) == "C:\\T", "temp: %TEMP% on Windows")
  local profile = temp(env({ USERPROFILE = "C:\\Users\\me" }), true)
  check(profile:match("^C:\\Users\\me.AppData.Local.Temp$") ~= nil, "temp: Windows fallback")
  check(lib.import.done_key({ job_id = "ab", finished = 1767000000.25 }) == "ab|1767000000.25",
    "done key: job id and exact finish time")
end

local function test_strict_emulation()
  emu.setup({ tick_s = 0, tracks = { { name = "a" } } })
  local track = reaper.GetTrack(0, 0)
  rejects(function() return reaper.NotAReaperFunction() end, "not in REAPER", "unknown function")
  rejects(function() return reaper.CountTracks(0, 1) end, "takes 1", "too many arguments")
  rejects(function() return reaper.GetTrack(0) end, "needs 2", "too few arguments")
  rejects(function() return reaper.SetMediaTrackInfo_Value(track, "I_FOLDERDEPTH", "1") end,
    "must be number", "wrong argument type")
  rejects(function() return reaper.GetMediaTrackInfo_Value(track, "I_NOT_A_PARAM") end,
    "not a track parameter", "unknown parameter")
  rejects(function() return reaper.GetMediaTrackInfo_Value(track, "I_SOLO") end,
    "not emulated", "real but unmodelled parameter")
  rejects(function() return gfx.not_a_gfx_function end, "not in REAPER", "unknown gfx name")
  rejects(function() reaper.Undo_EndBlock("x", -1) end, "without Undo_BeginBlock", "unbalanced undo")
  rejects(function() return reaper.GetUserInputs("t", 1, "c", "") end, "unexpected", "unplanned dialog")
  rejects(function() local a = reaper.new_array(4) return a:table() end, "offset", "array methods use a dot")
  rejects(function() reaper.GetTrack = nil end, "cannot be assigned", "reaper table is read-only")
end

local function test_queue_rows()
  local queue = lib.queue
  check(queue.duration(42.4) == "42 s", "duration in seconds")
  check(queue.duration(125) == "2 min 05 s", "duration in minutes")
  local entry = { title = "commit lead-vocal", estimate_s = 95 }
  local row = queue.row(entry, nil, false)
  check(row.text == "commit lead-vocal: waiting for samaudio-daw, about 1 min 35 s",
    "a waiting row shows the audition's estimate: " .. row.text)
  row = queue.row(entry, { state = "running", progress = 0.25, left_s = 30 }, false)
  check(row.text == "commit lead-vocal: 25%, 30 s left" and row.fraction == 0.25,
    "a running row shows the time left: " .. row.text)
  row = queue.row(entry, { state = "running", progress = 0.5 }, true)
  check(row.text == "commit lead-vocal: cancelling..." and row.cancelling, "a cancelling row")
end

local function test_audition_parts()
  local long, short = { position_s = 10, length_s = 60 }, { position_s = 100, length_s = 5 }
  emu.setup({ tick_s = 0 })
  local parts = lib.audition.parts({ long, short })
  check(#parts == 2 and parts[1].offset_s == 0 and parts[1].length_s == 20
    and parts[1].position_s == 10 and parts[2].length_s == 5,
    "without a time selection: the first 20 s of each item, or all of a shorter one")
  emu.setup({ tick_s = 0, time_selection = { 30, 35 } })
  parts = lib.audition.parts({ long, short })
  check(#parts == 1 and parts[1].offset_s == 20 and parts[1].position_s == 30
    and parts[1].length_s == 5, "the time selection where it crosses an item; others left out")
end

test_json()
test_names()
test_spans()
test_insert_point()
test_files()
test_temp_folder()
test_queue_rows()
test_audition_parts()
test_strict_emulation()

for _, message in ipairs(failures) do print("FAIL " .. message) end
print(string.format("%d checks, %d failed", checks, #failures))
os.exit(#failures == 0 and 0 or 1)
