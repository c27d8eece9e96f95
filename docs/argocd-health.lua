-- Argo CD health check for db.platform.dev/AppDatabase (docs/observability.md).
-- Argo CD runs it (Lua 5.1) with the live object as `obj` and reads the
-- table it returns. Paste it under resource.customizations.health in argocd-cm:
--
--   resource.customizations.health.db.platform.dev_AppDatabase: |
--     <this file>
--
-- Healthy      Ready=True for the current generation
-- Suspended    AwaitingApproval (an approver acts: kubectl appdb approve), or Paused
-- Degraded     any other Stalled reason (a person must fix the spec, a secret, the instance)
-- Progressing  no status yet, an older generation observed, or Reconciling
--              (DatabaseUnreachable, ProvisioningFailed: retried with backoff)
local hs = {}

local function condition(conditions, ctype)
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

local function says(c)
  local text = c.reason or ""
  if c.message ~= nil and c.message ~= "" then
    text = text .. ": " .. c.message
  end
  return text
end

if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for appdb-operator"
  return hs
end

local conditions = obj.status.conditions
local ready = condition(conditions, "Ready")
local stalled = condition(conditions, "Stalled")
local reconciling = condition(conditions, "Reconciling")

if reconciling ~= nil and reconciling.reason == "Paused" then
  hs.status = "Suspended"
  hs.message = says(reconciling)
  return hs
end

local generation = obj.metadata and obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for appdb-operator to observe generation " .. tostring(generation)
  return hs
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = says(ready)
  return hs
end

if stalled ~= nil and stalled.status == "True" then
  if stalled.reason == "AwaitingApproval" then
    hs.status = "Suspended"
  else
    hs.status = "Degraded"
  end
  hs.message = says(stalled)
  return hs
end

hs.status = "Progressing"
if reconciling ~= nil and reconciling.status == "True" then
  hs.message = says(reconciling)
elseif ready ~= nil then
  hs.message = says(ready)
else
  hs.message = "Waiting for appdb-operator"
end
return hs
