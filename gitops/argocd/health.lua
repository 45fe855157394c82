-- Argo CD health check for gpufleet.io/ModelDeployment.
--
-- Install it as resource.customizations.health.gpufleet.io_ModelDeployment in
-- argocd-cm (docs/gitops.md). Argo CD runs it with gopher-lua (Lua 5.1).
--
--   Progressing  the operator has not yet reported on this generation of the spec
--                (status.observedGeneration != metadata.generation), or there is
--                no Ready condition yet, or Ready is Unknown;
--   Degraded     Ready=False (reasons InvalidSpec, RolloutFailed, PodsCrashLooping,
--                PodsUnschedulable, ActivationUnknown, ...), or MetricsAvailable=False
--                while pods run (the autoscaler is flying blind);
--   Healthy      Ready=True (Serving, or ScaledToZero: no pod, so no pod metrics).
local hs = {}

local function find_condition(conditions, type_)
  if conditions == nil then
    return nil
  end
  for _, condition in ipairs(conditions) do
    if condition.type == type_ then
      return condition
    end
  end
  return nil
end

local function describe(condition)
  local text = condition.type .. "=" .. tostring(condition.status)
  if condition.reason ~= nil and condition.reason ~= "" then
    text = text .. " (" .. condition.reason .. ")"
  end
  if condition.message ~= nil and condition.message ~= "" then
    text = text .. ": " .. condition.message
  end
  return text
end

local status = obj.status
local generation = obj.metadata.generation
if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the gpufleet operator to report status"
  return hs
end
if status.observedGeneration == nil or (generation ~= nil and status.observedGeneration ~= generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the gpufleet operator to observe generation " .. tostring(generation)
  return hs
end

local ready = find_condition(status.conditions, "Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end
if ready.status == "False" then
  hs.status = "Degraded"
  hs.message = describe(ready)
  return hs
end
-- At zero replicas no pod exports metrics; Ready=True (ScaledToZero) already says the
-- activation query is known and below its threshold, which is what wakes the fleet.
if ready.status == "True" and ready.reason == "ScaledToZero" then
  hs.status = "Healthy"
  hs.message = describe(ready)
  return hs
end
local metrics = find_condition(status.conditions, "MetricsAvailable")
if metrics ~= nil and metrics.status == "False" then
  hs.status = "Degraded"
  hs.message = describe(metrics)
  return hs
end
if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready)
  return hs
end
hs.status = "Progressing"
hs.message = describe(ready)
return hs
