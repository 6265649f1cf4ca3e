-- wrk script of `veil bench cost`: each request is a distinct Meta-format text webhook from one of
-- VEIL_BENCH_CUSTOMERS known customers, signed with VEIL_BENCH_SECRET as Meta signs it
-- (X-Hub-Signature-256, HMAC-SHA256 of the body). The HMAC is OpenSSL's, through LuaJIT's FFI,
-- so the load generator stays cheap. The body is the one `veil bench ingest` sends
-- (`webhook_body` in ingest.rs); a unit test keeps the two the same.

local ffi = require("ffi")
ffi.cdef [[
const void *EVP_sha256(void);
unsigned char *HMAC(const void *md, const void *key, int key_len, const unsigned char *d,
                    size_t n, unsigned char *out, unsigned int *out_len);
]]
local ok, crypto = pcall(ffi.load, "libcrypto.so.3")
if not ok then crypto = ffi.load("crypto") end

local secret = os.getenv("VEIL_BENCH_SECRET") or "bench-app-secret"
local customers = tonumber(os.getenv("VEIL_BENCH_CUSTOMERS") or "5000")
local run = os.getenv("VEIL_BENCH_RUN") or tostring(os.time())
local out = ffi.new("unsigned char[32]")
local out_len = ffi.new("unsigned int[1]")
local counter = 0

local template = '{"object":"whatsapp_business_account","entry":[{"id":"200000000000002","changes":[{"value":{"messaging_product":"whatsapp",'
  .. '"metadata":{"display_phone_number":"15550001234","phone_number_id":"100000000000001"},'
  .. '"contacts":[{"profile":{"name":"Cust\\u00f3mer %d"},"wa_id":"4915%09d","user_id":"US.%d"}],'
  .. '"messages":[{"from":"4915%09d","from_user_id":"US.%d","id":"%s","timestamp":"%d","type":"text",'
  .. '"text":{"body":"Hallo, wo ist meine Bestellung Nummer %d? Gr\\u00fc\\u00dfe"}}]},"field":"messages"}]}]}'

local threads = 0
function setup(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end

local function hex(bytes, n)
  local parts = {}
  for i = 0, n - 1 do parts[#parts + 1] = string.format("%02x", bytes[i]) end
  return table.concat(parts)
end

function request()
  local tid = thread_id or 0 -- set by setup() in each thread's Lua state
  local c = (tid * 7919 + counter) % customers
  local wamid = string.format("wamid.cost.%s.%d.%d", run, tid, counter)
  counter = counter + 1
  local body = string.format(template, c, c, c, c, c, wamid, os.time(), c)
  crypto.HMAC(crypto.EVP_sha256(), secret, #secret, body, #body, out, out_len)
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-Hub-Signature-256"] = "sha256=" .. hex(out, out_len[0]),
  }
  return wrk.format("POST", "/webhooks/whatsapp", headers, body)
end
