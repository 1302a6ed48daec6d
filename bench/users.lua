-- wrk script: KServe-v2 style POSTs, each from one of 10,000 users picked at random
-- (sticky bucketing is exercised; every contender sees the same user distribution).
--   wrk -t2 -c32 -d10s --latency -s bench/users.lua http://127.0.0.1:PORT/v2/models/ab/infer
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"inputs":[{"name":"x","shape":[3],"datatype":"FP32","data":[0.1,1.5,3]}]}'

function setup(thread)
  thread:set("seed", math.random(1, 2 ^ 31 - 1))
end

function init(args)
  math.randomseed((seed or 1) + os.time())
end

request = function()
  wrk.headers["x-user-id"] = "user-" .. math.random(0, 9999)
  return wrk.format(nil, nil)
end
