-- Argo CD health check for traininghub.io/v1alpha1 TrainingRun.
--
-- Install it under the key `resource.customizations.health.traininghub.io_TrainingRun` of the argocd-cm
-- ConfigMap (see docs/gitops.md). Argo CD runs it with the live object in the global `obj` and expects a
-- table {status = ..., message = ...} with status one of Healthy, Progressing, Degraded, Suspended.
--
-- Mapping (status written by the operator: phase, observedGeneration, standard conditions):
--   no status yet, or status older than the spec (observedGeneration < generation) -> Progressing
--   Accepted=False (the spec is invalid; nothing launches until it is fixed)         -> Degraded
--   (generation first: a fixed spec is not shown Degraded by the previous generation's verdict)
--   Stalled=True (the operator cannot make progress without a change)               -> Degraded
--   phase Failed                                                                     -> Degraded
--   phase Succeeded                                                                  -> Healthy
--   spec.dryRun and Planned=True (nothing is launched by design)                     -> Healthy
--   phase Suspended                                                                  -> Suspended
--   phase Pending, Planning, Queued, Running                                         -> Progressing
--
-- Written for the Lua 5.1 subset Argo CD's gopher-lua runs (tested with Lua 5.4 as well): no goto, no
-- integer division. Argo CD opens only the base, table and package libraries for health checks: no
-- string, math, os or io functions and no string methods (the tests run it in that environment).

local function find_condition(conditions, ctype)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == ctype then
      return c
    end
  end
  return nil
end

local function message_of(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    if c.reason ~= nil and c.reason ~= "" then
      return c.reason .. ": " .. c.message
    end
    return c.message
  end
  if c ~= nil and c.reason ~= nil and c.reason ~= "" then
    return c.reason
  end
  return fallback
end

local hs = {}
local status = obj.status
local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end

if status == nil or (status.phase == nil and status.conditions == nil) then
  hs.status = "Progressing"
  hs.message = "Waiting for the Training Hub operator to accept the run"
  return hs
end

local conditions = status.conditions
local accepted = find_condition(conditions, "Accepted")
local stalled = find_condition(conditions, "Stalled")
local planned = find_condition(conditions, "Planned")
local phase = status.phase

-- Generation first (Argo CD's convention): after a user fixes an invalid spec, the Accepted=False of the
-- previous generation is stale until the operator reconciles the new one.
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to reconcile generation " .. tostring(generation)
  return hs
end

-- An invalid spec (of the generation the status describes, or before the operator recorded any
-- observedGeneration): it will not change until someone edits the spec.
if accepted ~= nil and accepted.status == "False" then
  hs.status = "Degraded"
  hs.message = message_of(accepted, "The TrainingRun was not accepted")
  return hs
end

if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = message_of(stalled, "The TrainingRun is stalled")
  return hs
end

-- Phases that map to one health each: {health, condition whose message is shown, fallback message}.
local by_phase = {
  Failed = {"Degraded", "Failed", "Training failed"},
  Succeeded = {"Healthy", "Succeeded", "Training succeeded"},
  Suspended = {"Suspended", "Running", "The TrainingRun is suspended"},
  Queued = {"Progressing", "Queued", "Waiting for admission"},
}

local function phase_health(entry)
  hs.status = entry[1]
  hs.message = message_of(find_condition(conditions, entry[2]), entry[3])
  return hs
end

if phase == "Failed" or phase == "Succeeded" then
  return phase_health(by_phase[phase])
end

if obj.spec ~= nil and obj.spec.dryRun == true and planned ~= nil and planned.status == "True" then
  hs.status = "Healthy"
  hs.message = "Dry run: " .. message_of(planned, "planned and rendered, nothing launched")
  return hs
end

if phase == "Suspended" or phase == "Queued" then
  return phase_health(by_phase[phase])
end

if phase == "Running" then
  hs.status = "Progressing"
  local msg = message_of(find_condition(conditions, "Running"), "Training")
  if status.progress ~= nil and status.progress.percent ~= nil then
    msg = msg .. " (" .. tostring(status.progress.percent) .. "%)"
  end
  hs.message = msg
  return hs
end

if phase == "Pending" or phase == "Planning" or phase == nil then
  hs.status = "Progressing"
  hs.message = message_of(planned, "Planning the run")
  return hs
end

hs.status = "Unknown"
hs.message = "Unknown phase " .. tostring(phase)
return hs
