"""A Kubernetes API server emulator for tests and the local fleet, built on kmock.

Standalone::

    python -m gpufleet_devtools.apiserver --port 0 --kubeconfig /tmp/kc --crds crds/
    kubectl --kubeconfig /tmp/kc apply -f examples/...

In tests::

    with EmulatedApiServer(crds=["crds/modeldeployments.gpufleet.io.yaml"]) as server:
        server.url, server.kubeconfig_path          # point kopf / kubectl / clients here
        server.create("v1/configmaps", {...}, "default")
        server.patch_status("gpufleet.io/v1alpha1/modeldeployments", "m", {...}, "default")
        server.handler["get /api/v1/namespaces/default/pods"] << 503   # kmock fault injection
        release = server.handler.hold("POST", path)   # a slow API server: answer when set

(``async with`` runs it in the current event loop instead of a background thread.)

Served like a real API server: one global resourceVersion, uid/generation/timestamps,
generateName, list+watch with replay from a bounded event log (410 Gone when compacted),
bookmarks, label/field selectors, limit/continue paging, discovery, CRDs registered on
creation, CRD schema admission (pruning, defaults, OpenAPI checks, CEL rules) answering 422
with per-field causes, ``fieldValidation`` (Strict/Warn/Ignore) on custom resources and on
built-in kinds (their fields from the Kubernetes OpenAPI schemas of ``kubernetes-validate``;
a field the type lacks is never stored), the status subresource, finalizers, ownerReference garbage
collection, merge/JSON/strategic-merge patches and server-side apply, ``kubectl get`` tables.

Known differences from a real API server (deliberate simplifications):

- No authentication, authorization or admission webhooks; plain http.
- Built-in kinds are checked for unknown fields only: their values are not validated or
  defaulted (the one conversion done is a pod spec's ``serviceAccount`` alias of
  ``serviceAccountName``), and no controllers run (a Deployment never gets Pods; nobody
  sets its status unless a test does).
- Server-side apply is a merge of the applied object: no managedFields, no field ownership
  conflicts, no removal of fields a manager stops applying.
- The strategic merge patch knows only the common merge keys (containers, env, ports, ...).
- Foreground deletion deletes dependents synchronously instead of via a finalizer; a deleted
  namespace disappears at once (objects with finalizers in it stay until released).
- Updates without a resourceVersion are accepted unconditionally (CRs require it on a real
  server); protobuf is not spoken.
"""

from gpufleet_devtools.apiserver.cluster import Cluster
from gpufleet_devtools.apiserver.errors import ApiError
from gpufleet_devtools.apiserver.handler import ApiServerHandler
from gpufleet_devtools.apiserver.server import EmulatedApiServer

__all__ = ["ApiError", "ApiServerHandler", "Cluster", "EmulatedApiServer"]
