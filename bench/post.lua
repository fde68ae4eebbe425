-- wrk script: POST the JSON body in the file named by $BENCH_BODY to /v1/chat/completions.
local file = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.body = file:read("*a")
wrk.headers["Content-Type"] = "application/json"
file:close()
