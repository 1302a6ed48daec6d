-- wrk script: KServe-v2 style POSTs from 10,000 distinct users (sticky bucketing is exercised).
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"inputs":[{"name":"x","shape":[3],"datatype":"FP32","data":[0.1,1.5,3]}]}'
local n = 0
request = function()
  n = n + 1
  wrk.headers["x-user-id"] = "user-" .. (n % 10000)
  return wrk.format(nil, nil)
end
