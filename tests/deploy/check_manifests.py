#!/usr/bin/env python3
"""Static checks of accelsched's Kubernetes manifests (deploy/), without a cluster.

Usage: check_manifests.py REPO_ROOT

Parses every *.yaml / *.yml under REPO_ROOT/deploy (all documents of each file; a YAML error
or a duplicate mapping key fails, naming the file) and checks:
  - every object (and every item of a List) has apiVersion and kind (and a name);
  - every path a kustomization.yaml lists exists, and every YAML file beside it is listed;
  - the kube-scheduler configuration against DESIGN.md section 3: apiVersion v1,
    percentageOfNodesToScore 100, a profile with schedulerName accelsched, exactly one
    extender whose urlPrefix ends in /v1/extender and names the extender Service by its DNS
    name and port, where the port equals the Service port and the extender container's --port;
    filter/prioritize/bind/preempt verbs, weight > 0, nodeCacheCapable true, ignorable false,
    httpTimeout, managedResources with nvidia.com/gpu and accelsched.io/gpu-milli (the latter
    ignoredByScheduler true); the kube-scheduler Deployment mounts that ConfigMap at the path
    its --config names; the extender's own config (if it has urlPrefix) agrees with it;
  - the extender's probes: liveness /healthz and readiness /readyz on its --port;
  - RBAC: the extender's service account may create pods/binding and list+watch nodes and
    pods; the scheduler's is bound to system:kube-scheduler, system:volume-scheduler,
    extension-apiserver-authentication-reader (kube-system) and may use its leader-election
    lease; accelsched-node's may get+patch nodes and list+watch+patch pods; every service
    account used exists;
  - accelsched-node's DaemonSets mount the kubelet's device-plugin directory (hostPath
    /var/lib/kubelet/device-plugins) at the same path and use the nvidia runtime class; one
    is static, at most one runs --mig=dynamic (privileged, only on nodes labelled
    accelsched.io/mig-mode=dynamic), and the static one keeps off those nodes;
  - every Deployment/DaemonSet/StatefulSet/Job container has runAsNonRoot and
    readOnlyRootFilesystem, except accelsched-node, which runs as root (the device-plugin
    directory is root's) and must then drop every capability and forbid privilege escalation;
  - example pods use schedulerName accelsched, extended-resource requests equal limits;
  - the demo cluster (deploy/examples/demo-cluster.yaml) is a v1 List with at least 10 Nodes,
    every GPU node has the GPU feature discovery product and count labels, and every Running
    pod has a uid and a spec.nodeName naming a Node of the List (and GPU ids below its count).

A check that cannot run (a missing object, an unexpected shape) is a failure too, so the
script cannot pass vacuously. Prints one line per failure and exits 1, else prints PASS.
"""

from __future__ import annotations

import os
import posixpath
import re
import sys
import traceback

PLUGIN_DIR = "/var/lib/kubelet/device-plugins"
import urllib.parse

import yaml

SCHEDULER_NAME = "accelsched"
EXTENDER_PATH_SUFFIX = "/v1/extender"
GPU_RESOURCE = "nvidia.com/gpu"
MILLI_RESOURCE = "accelsched.io/gpu-milli"
DEMO_CLUSTER = "deploy/examples/demo-cluster.yaml"
CONTAINERFILE = "deploy/image/Containerfile"
LEADER_LABEL = "accelsched.io/leader"
WORKLOAD_KINDS = ("Deployment", "DaemonSet", "StatefulSet", "Job", "CronJob", "ReplicaSet")
DURATION_RE = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys (the API server's strict decoding does)."""


def _construct_mapping(loader, node, deep=False):
    loader.flatten_mapping(node)
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark,
                f"found duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class CannotCheck(Exception):
    """A check could not run: what it needs is missing or malformed."""


class Obj:
    """One Kubernetes object read from a file."""

    def __init__(self, doc: dict, path: str, where: str, kustomize_ns: str | None):
        self.doc = doc
        self.path = path            # relative to the repo root
        self.where = where          # path plus document / item position
        self.kustomize_ns = kustomize_ns

    @property
    def kind(self) -> str:
        return self.doc.get("kind", "")

    @property
    def name(self) -> str:
        return (self.doc.get("metadata") or {}).get("name", "")

    @property
    def namespace(self) -> str | None:
        ns = (self.doc.get("metadata") or {}).get("namespace")
        return ns or self.kustomize_ns

    def label(self) -> str:
        return f"{self.where} {self.kind}/{self.name}"


class Checker:
    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        self.failures: list[str] = []
        self.objects: list[Obj] = []       # top-level objects (not List items)
        self.list_items: dict[str, list[Obj]] = {}  # file -> items of its List documents
        self.kustomizations: list[Obj] = []

    # ------------------------------------------------------------------ reporting

    def fail(self, msg: str) -> None:
        self.failures.append(msg)

    def expect(self, cond: bool, msg: str) -> bool:
        if not cond:
            self.fail(msg)
        return bool(cond)

    def run(self, name: str, fn) -> None:
        try:
            fn()
        except CannotCheck as e:
            self.fail(f"cannot check {name}: {e}")
        except Exception as e:  # a bug or an unexpected shape: never pass silently
            tb = traceback.extract_tb(e.__traceback__)[-1]
            self.fail(f"cannot check {name}: {type(e).__name__}: {e} (line {tb.lineno})")

    # ------------------------------------------------------------------ loading

    def rel(self, path: str) -> str:
        return os.path.relpath(path, self.root)

    def load(self) -> None:
        deploy = os.path.join(self.root, "deploy")
        if not os.path.isdir(deploy):
            raise CannotCheck(f"{self.rel(deploy)} is not a directory")
        files = []
        for dirpath, dirnames, filenames in os.walk(deploy):
            dirnames.sort()
            for f in sorted(filenames):
                if f.endswith((".yaml", ".yml")):
                    files.append(os.path.join(dirpath, f))
        if not files:
            raise CannotCheck("no *.yaml files under deploy/")
        parsed = {}
        for path in files:
            try:
                with open(path, encoding="utf-8") as fh:
                    parsed[path] = list(yaml.load_all(fh, Loader=StrictLoader))
            except (yaml.YAMLError, UnicodeDecodeError, OSError) as e:
                self.fail(f"{self.rel(path)}: YAML error: {' '.join(str(e).split())}")
        # Kustomizations first: they give a default namespace to the files they list.
        kustomize_ns = {}
        for path, docs in parsed.items():
            for doc in docs:
                if isinstance(doc, dict) and doc.get("kind") == "Kustomization":
                    ns = doc.get("namespace")
                    if ns:
                        kustomize_ns[os.path.dirname(path)] = ns
        for path, docs in parsed.items():
            rel = self.rel(path)
            ns = kustomize_ns.get(os.path.dirname(path))
            real = [d for d in docs if d is not None]
            if not real:
                self.fail(f"{rel}: no YAML document")
            for i, doc in enumerate(docs):
                if doc is None:
                    continue
                where = f"{rel}[doc {i}]" if len(docs) > 1 else rel
                if not isinstance(doc, dict):
                    self.fail(f"{where}: document is a {type(doc).__name__}, not a mapping")
                    continue
                obj = Obj(doc, rel, where, ns)
                self.check_typed(obj)
                if obj.kind == "Kustomization":
                    self.kustomizations.append(obj)
                    continue
                self.objects.append(obj)
                if isinstance(obj.kind, str) and obj.kind.endswith("List"):
                    items = doc.get("items")
                    if not isinstance(items, list):
                        self.fail(f"{where}: List without an items array")
                        continue
                    out = self.list_items.setdefault(rel, [])
                    for j, item in enumerate(items):
                        iw = f"{where} items[{j}]"
                        if not isinstance(item, dict):
                            self.fail(f"{iw}: item is not a mapping")
                            continue
                        it = Obj(item, rel, iw, None)
                        self.check_typed(it)
                        out.append(it)

    def check_typed(self, obj: Obj) -> None:
        for field in ("apiVersion", "kind"):
            v = obj.doc.get(field)
            self.expect(isinstance(v, str) and v.strip() != "",
                        f"{obj.where}: {field} is missing or empty")
        kind = obj.doc.get("kind")
        if not (isinstance(kind, str) and (kind.endswith("List") or kind == "Kustomization")):
            self.expect(isinstance(obj.name, str) and obj.name != "",
                        f"{obj.where}: metadata.name is missing")

    # ------------------------------------------------------------------ lookups

    def find(self, kind: str, name: str | None = None, namespace: str | None = None):
        return [o for o in self.objects
                if o.kind == kind and (name is None or o.name == name)
                and (namespace is None or o.namespace == namespace)]

    def workloads(self):
        return [o for o in self.objects if o.kind in WORKLOAD_KINDS]

    @staticmethod
    def pod_spec(obj: Obj) -> dict:
        spec = obj.doc.get("spec") or {}
        if obj.kind == "CronJob":
            spec = ((spec.get("jobTemplate") or {}).get("spec") or {})
        return ((spec.get("template") or {}).get("spec") or {})

    @staticmethod
    def pod_labels(obj: Obj) -> dict:
        spec = obj.doc.get("spec") or {}
        return (((spec.get("template") or {}).get("metadata") or {}).get("labels") or {})

    @staticmethod
    def argv(container: dict) -> list[str]:
        return [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]

    @staticmethod
    def flag(container: dict, name: str) -> str | None:
        """Value of --name=V or --name V in the container's command line."""
        argv = Checker.argv(container)
        for i, a in enumerate(argv):
            if a.startswith(f"--{name}="):
                return a.split("=", 1)[1]
            if a == f"--{name}" and i + 1 < len(argv):
                return argv[i + 1]
        return None

    def containers_running(self, binary: str):
        """(workload, container) pairs whose command starts with `binary` (basename)."""
        out = []
        for w in self.workloads():
            for c in self.pod_spec(w).get("containers") or []:
                argv = self.argv(c)
                if argv and posixpath.basename(argv[0]) == binary:
                    out.append((w, c))
        return out

    def one_container(self, binary: str):
        found = self.containers_running(binary)
        if len(found) != 1:
            raise CannotCheck(f"expected exactly one workload container running {binary}, "
                              f"found {len(found)}")
        return found[0]

    def configmap_file(self, workload: Obj, container: dict, path: str):
        """The ConfigMap and key that provide file `path` inside `container`."""
        spec = self.pod_spec(workload)
        volumes = {v.get("name"): v for v in spec.get("volumes") or []}
        for m in container.get("volumeMounts") or []:
            mount = str(m.get("mountPath", "")).rstrip("/")
            if not path.startswith(mount + "/"):
                continue
            vol = volumes.get(m.get("name"))
            if not vol or "configMap" not in vol:
                continue
            rest = path[len(mount) + 1:]
            if m.get("subPath"):
                continue
            cm_name = vol["configMap"].get("name")
            key = rest
            items = vol["configMap"].get("items")
            if items:
                key = next((it.get("key") for it in items if it.get("path") == rest), None)
            cms = self.find("ConfigMap", cm_name, workload.namespace)
            if not cms:
                raise CannotCheck(f"{workload.label()}: ConfigMap {cm_name} (mounted at {mount}) "
                                  "is not in deploy/")
            data = cms[0].doc.get("data") or {}
            if key not in data:
                raise CannotCheck(f"{workload.label()}: ConfigMap {cm_name} has no key {key!r} "
                                  f"for {path}")
            return cms[0], key
        raise CannotCheck(f"{workload.label()}: no ConfigMap volume is mounted to provide {path}")

    @staticmethod
    def resolve_port(container: dict, port) -> int | None:
        if isinstance(port, int) and not isinstance(port, bool):
            return port
        if isinstance(port, str):
            if port.isdigit():
                return int(port)
            for p in container.get("ports") or []:
                if p.get("name") == port:
                    return p.get("containerPort")
        return None

    # ------------------------------------------------------------------ RBAC helpers

    def bound_rules(self, sa_name: str, sa_ns: str):
        """Rules of the ClusterRoles/Roles in deploy/ bound to the service account, and the
        names of all roles bound (including built-in ones not defined here)."""
        rules, bound = [], set()
        for kind in ("ClusterRoleBinding", "RoleBinding"):
            for b in self.find(kind):
                subjects = b.doc.get("subjects") or []
                if not any(s.get("kind") == "ServiceAccount" and s.get("name") == sa_name
                           and (s.get("namespace") or b.namespace) == sa_ns for s in subjects):
                    continue
                ref = b.doc.get("roleRef") or {}
                scope = "*" if kind == "ClusterRoleBinding" else b.namespace
                bound.add((ref.get("kind"), ref.get("name"), scope))
                roles = self.find(ref.get("kind", ""), ref.get("name"),
                                  None if ref.get("kind") == "ClusterRole" else b.namespace)
                for r in roles:
                    rules.extend(r.doc.get("rules") or [])
        return rules, bound

    @staticmethod
    def allows(rules, group: str, resource: str, verb: str, name: str | None = None) -> bool:
        for r in rules:
            if not any(g in ("*", group) for g in r.get("apiGroups") or []):
                continue
            if not any(x in ("*", resource) for x in r.get("resources") or []):
                continue
            if not any(v in ("*", verb) for v in r.get("verbs") or []):
                continue
            names = r.get("resourceNames") or []
            if names and (name is None or name not in names):
                continue
            return True
        return False

    def service_account_of(self, w: Obj) -> tuple[str, str]:
        spec = self.pod_spec(w)
        return (spec.get("serviceAccountName") or spec.get("serviceAccount") or "default",
                w.namespace or "default")

    # ------------------------------------------------------------------ checks

    def check_kustomizations(self) -> None:
        base = os.path.join(self.root, "deploy", "base", "kustomization.yaml")
        if not os.path.isfile(base):
            raise CannotCheck("deploy/base/kustomization.yaml is missing")
        for k in self.kustomizations:
            kdir = os.path.join(self.root, os.path.dirname(k.path))
            entries = list(k.doc.get("resources") or []) + list(k.doc.get("components") or [])
            entries += list(k.doc.get("patchesStrategicMerge") or [])
            entries += [p["path"] for p in k.doc.get("patches") or []
                        if isinstance(p, dict) and "path" in p]
            if not self.expect(entries, f"{k.where}: lists no resources"):
                continue
            listed = set()
            for e in entries:
                if not isinstance(e, str):
                    self.fail(f"{k.where}: entry {e!r} is not a path")
                    continue
                if "://" in e or e.startswith(("github.com/", "git@")):
                    self.fail(f"{k.where}: remote resource {e} cannot be checked offline")
                    continue
                p = os.path.normpath(os.path.join(kdir, e))
                listed.add(p)
                if os.path.isdir(p):
                    self.expect(any(os.path.isfile(os.path.join(p, n)) for n in
                                    ("kustomization.yaml", "kustomization.yml", "Kustomization")),
                                f"{k.where}: directory {e} has no kustomization.yaml")
                else:
                    self.expect(os.path.isfile(p), f"{k.where}: lists {e}, which does not exist")
            for f in sorted(os.listdir(kdir)):
                p = os.path.join(kdir, f)
                if (f.endswith((".yaml", ".yml")) and f not in ("kustomization.yaml",
                                                                "kustomization.yml")
                        and os.path.isfile(p)):
                    self.expect(p in listed, f"{k.where}: {f} is beside it but not listed")

    def scheduler_config(self):
        found = []
        for cm in self.find("ConfigMap"):
            for key, value in (cm.doc.get("data") or {}).items():
                if not isinstance(value, str) or "KubeSchedulerConfiguration" not in value:
                    continue
                try:
                    cfg = yaml.load(value, Loader=StrictLoader)
                except yaml.YAMLError as e:
                    self.fail(f"{cm.label()}: data[{key}] YAML error: {' '.join(str(e).split())}")
                    continue
                if isinstance(cfg, dict) and cfg.get("kind") == "KubeSchedulerConfiguration":
                    found.append((cm, key, cfg))
        if len(found) != 1:
            raise CannotCheck("expected exactly one ConfigMap holding a "
                              f"KubeSchedulerConfiguration, found {len(found)}")
        return found[0]

    def check_scheduler(self) -> None:
        cm, key, cfg = self.scheduler_config()
        where = f"{cm.label()} data[{key}]"
        self.expect(cfg.get("apiVersion") == "kubescheduler.config.k8s.io/v1",
                    f"{where}: apiVersion must be kubescheduler.config.k8s.io/v1, "
                    f"got {cfg.get('apiVersion')!r}")
        profiles = [p for p in cfg.get("profiles") or [] if isinstance(p, dict)
                    and p.get("schedulerName") == SCHEDULER_NAME]
        if self.expect(len(profiles) == 1,
                       f"{where}: needs one profile with schedulerName {SCHEDULER_NAME}"):
            pct = profiles[0].get("percentageOfNodesToScore", cfg.get("percentageOfNodesToScore"))
            self.expect(pct == 100, f"{where}: percentageOfNodesToScore must be 100 (the extender "
                                    f"must see every feasible node), got {pct!r}")

        # The Deployment that runs kube-scheduler with this ConfigMap.
        w, c = self.one_container("kube-scheduler")
        conf = self.flag(c, "config")
        if not conf:
            raise CannotCheck(f"{w.label()}: kube-scheduler has no --config")
        used_cm, used_key = self.configmap_file(w, c, conf)
        self.expect(used_cm is cm and used_key == key,
                    f"{w.label()}: --config={conf} is ConfigMap {used_cm.name}[{used_key}], "
                    f"not {cm.name}[{key}]")
        le = cfg.get("leaderElection") or {}
        if le.get("leaderElect", True):
            name = le.get("resourceName", "kube-scheduler")
            self.expect(name != "kube-scheduler",
                        f"{where}: leaderElection.resourceName must not be the default "
                        "scheduler's lease kube-scheduler")
            self.expect_lease_rbac(w, name, "kube-scheduler")

        exts = cfg.get("extenders")
        if not isinstance(exts, list) or len(exts) != 1:
            raise CannotCheck(f"{where}: expected exactly one extender, found "
                              f"{len(exts) if isinstance(exts, list) else 0}")
        ext = exts[0]
        ew = f"{where} extenders[0]"
        for verb in ("filterVerb", "prioritizeVerb", "bindVerb", "preemptVerb"):
            v = ext.get(verb)
            self.expect(isinstance(v, str) and v.strip() != "", f"{ew}: {verb} is not set")
        weight = ext.get("weight")
        self.expect(isinstance(weight, int) and not isinstance(weight, bool) and weight > 0,
                    f"{ew}: weight must be an integer > 0, got {weight!r}")
        self.expect(ext.get("nodeCacheCapable") is True,
                    f"{ew}: nodeCacheCapable must be true, got {ext.get('nodeCacheCapable')!r}")
        self.expect(ext.get("ignorable") is False,
                    f"{ew}: ignorable must be set to false, got {ext.get('ignorable')!r}")
        timeout = ext.get("httpTimeout")
        self.expect(isinstance(timeout, str) and DURATION_RE.match(timeout) is not None,
                    f"{ew}: httpTimeout must be a duration such as 5s, got {timeout!r}")
        managed = {}
        for m in ext.get("managedResources") or []:
            name = m.get("name") if isinstance(m, dict) else None
            if not self.expect(isinstance(name, str) and name,
                               f"{ew}: managedResources entry {m!r} has no name"):
                continue
            self.expect(name not in managed, f"{ew}: managedResources lists {name} twice")
            managed[name] = m
        if self.expect(GPU_RESOURCE in managed, f"{ew}: managedResources lacks {GPU_RESOURCE}"):
            self.expect(not managed[GPU_RESOURCE].get("ignoredByScheduler", False),
                        f"{ew}: {GPU_RESOURCE} must not be ignoredByScheduler (the device "
                        "plugin advertises it)")
        if self.expect(MILLI_RESOURCE in managed,
                       f"{ew}: managedResources lacks {MILLI_RESOURCE}"):
            self.expect(managed[MILLI_RESOURCE].get("ignoredByScheduler") is True,
                        f"{ew}: {MILLI_RESOURCE} must be ignoredByScheduler: true")

        # urlPrefix -> Service -> extender container.
        url = ext.get("urlPrefix")
        if not isinstance(url, str) or not url:
            raise CannotCheck(f"{ew}: urlPrefix is not set")
        u = urllib.parse.urlsplit(url)
        self.expect(u.path.rstrip("/").endswith(EXTENDER_PATH_SUFFIX),
                    f"{ew}: urlPrefix path must end in {EXTENDER_PATH_SUFFIX}, got {u.path!r}")
        https = bool(ext.get("enableHTTPS", False))
        self.expect((u.scheme == "https") == https and u.scheme in ("http", "https"),
                    f"{ew}: urlPrefix scheme {u.scheme!r} does not match enableHTTPS {https}")
        m = re.fullmatch(r"([a-z0-9-]+)\.([a-z0-9-]+)\.svc(\.cluster\.local)?", u.hostname or "")
        if not m:
            raise CannotCheck(f"{ew}: urlPrefix host {u.hostname!r} is not a Service DNS name "
                              "<service>.<namespace>.svc")
        svc_name, svc_ns = m.group(1), m.group(2)
        svcs = self.find("Service", svc_name, svc_ns)
        if len(svcs) != 1:
            raise CannotCheck(f"{ew}: urlPrefix names Service {svc_ns}/{svc_name}, which is not "
                              "in deploy/")
        svc = svcs[0]
        url_port = u.port
        if not self.expect(url_port is not None, f"{ew}: urlPrefix has no explicit port"):
            url_port = 443 if https else 80
        ports = [p for p in (svc.doc.get("spec") or {}).get("ports") or []
                 if p.get("port") == url_port]
        if not ports:
            raise CannotCheck(f"{svc.label()}: has no port {url_port} (the urlPrefix port)")
        selector = (svc.doc.get("spec") or {}).get("selector") or {}
        if not selector:
            raise CannotCheck(f"{svc.label()}: has no selector")
        we, ce = self.one_container("accelsched-extender")
        labels = dict(self.pod_labels(we))
        if self.labels_itself(ce):
            labels[LEADER_LABEL] = "true"  # The leader's, set at run time.
        self.expect(all(labels.get(k) == v for k, v in selector.items()),
                    f"{svc.label()}: selector {selector} does not select {we.label()}")
        by_label = selector.get(LEADER_LABEL) == "true"
        self.expect(we.namespace == svc_ns,
                    f"{we.label()}: namespace {we.namespace} differs from the Service's {svc_ns}")
        port_flag = self.flag(ce, "port")
        if port_flag is None or not port_flag.isdigit():
            raise CannotCheck(f"{we.label()}: accelsched-extender has no numeric --port")
        port = int(port_flag)
        target = self.resolve_port(ce, ports[0].get("targetPort", ports[0].get("port")))
        self.expect(target == port, f"{svc.label()}: targetPort resolves to {target}, but the "
                                    f"extender listens on --port={port}")
        self.expect(url_port == port, f"{ew}: urlPrefix port {url_port} differs from the "
                                      f"extender's --port={port}")

        # Probes on the extender's port. With the Service on the leader's label every synced
        # replica is Ready (/readyz?role=any); without it, readiness is what picks the leader.
        ready_path = "/readyz?role=any" if by_label else "/readyz"
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", ready_path)):
            get = (ce.get(probe) or {}).get("httpGet")
            if not self.expect(isinstance(get, dict),
                               f"{we.label()}: extender has no {probe}.httpGet"):
                continue
            self.expect(get.get("path") == path,
                        f"{we.label()}: {probe} path must be {path}, got {get.get('path')!r}")
            pp = self.resolve_port(ce, get.get("port"))
            self.expect(pp == port, f"{we.label()}: {probe} port {get.get('port')!r} is not "
                                    f"--port={port}")

        # The extender's own config agrees on the URL path.
        econf = self.flag(ce, "config")
        if econf:
            ecm, ekey = self.configmap_file(we, ce, econf)
            try:
                ecfg = yaml.load(ecm.doc["data"][ekey], Loader=StrictLoader)
            except yaml.YAMLError as e:
                raise CannotCheck(f"{ecm.label()} data[{ekey}]: YAML error: "
                                  f"{' '.join(str(e).split())}") from e
            if not isinstance(ecfg, dict):
                raise CannotCheck(f"{ecm.label()} data[{ekey}] is not a mapping")
            if "urlPrefix" in ecfg:
                self.expect(str(ecfg["urlPrefix"]).rstrip("/") == u.path.rstrip("/"),
                            f"{ecm.label()}: urlPrefix {ecfg['urlPrefix']!r} differs from the "
                            f"kube-scheduler extender path {u.path!r}")
            self.check_extender_replicas(we, ecm, ecfg, by_label)

    @staticmethod
    def labels_itself(c: dict) -> bool:
        """The container gets POD_NAMESPACE and POD_NAME from the downward API (the leader then
        labels its pod)."""
        refs = {e.get("name"): ((e.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
                for e in c.get("env") or []}
        return (refs.get("POD_NAMESPACE") == "metadata.namespace"
                and refs.get("POD_NAME") == "metadata.name")

    def check_extender_replicas(self, we: Obj, ecm: Obj, ecfg: dict, by_label: bool) -> None:
        """More than one extender replica needs leader election (two ledgers must never bind at
        once), with the Lease in its service account's RBAC; the leader's label needs pods patch;
        a PodDisruptionBudget keeps one replica, which only works when standbys can be Ready."""
        replicas = (we.doc.get("spec") or {}).get("replicas", 1)
        le = ecfg.get("leaderElection") or {}
        if replicas > 1:
            self.expect(le.get("leaderElect") is True,
                        f"{we.label()}: {replicas} replicas need leaderElection.leaderElect: true "
                        f"in {ecm.label()}")
            self.check_extender_pdb(we, replicas, by_label)
        if le.get("leaderElect") is True:
            self.expect_lease_rbac(we, le.get("resourceName", "accelsched-extender"), "extender")
        if by_label:
            sa, ns = self.service_account_of(we)
            rules, _ = self.bound_rules(sa, ns)
            self.expect(self.allows(rules, "", "pods", "patch"),
                        f"RBAC: ServiceAccount {ns}/{sa} (extender) cannot patch pods, so the "
                        f"leader cannot set {LEADER_LABEL} that the Service selects")

    def check_extender_pdb(self, we: Obj, replicas: int, by_label: bool) -> None:
        labels = self.pod_labels(we)
        pdbs = [p for p in self.find("PodDisruptionBudget", None, we.namespace)
                if all(labels.get(k) == v for k, v in
                       (((p.doc.get("spec") or {}).get("selector") or {}).get("matchLabels")
                        or {}).items())]
        if not self.expect(len(pdbs) == 1, f"{we.label()}: {replicas} replicas want one "
                                           f"PodDisruptionBudget, found {len(pdbs)}"):
            return
        spec = pdbs[0].doc.get("spec") or {}
        self.expect(spec.get("minAvailable") == 1 and "maxUnavailable" not in spec,
                    f"{pdbs[0].label()}: want minAvailable: 1 (one warm replica)")
        # Counted by readiness: if only the leader can be Ready, the leader can never be evicted.
        self.expect(by_label, f"{pdbs[0].label()}: with readiness picking the leader (/readyz),"
                              " no standby is ever Ready and the budget blocks every drain of "
                              f"the leader's node; select the Service on {LEADER_LABEL}")

    def expect_lease_rbac(self, w: Obj, name: str, who: str) -> None:
        """Workload `w`'s service account may get, create and update Lease `name`."""
        sa, ns = self.service_account_of(w)
        rules, _ = self.bound_rules(sa, ns)
        for verb in ("get", "create", "update"):
            self.expect(self.allows(rules, "coordination.k8s.io", "leases", verb, name),
                        f"RBAC: ServiceAccount {ns}/{sa} ({who}) cannot {verb} lease {name}")

    def check_rbac(self) -> None:
        we, _ = self.one_container("accelsched-extender")
        sa, ns = self.service_account_of(we)
        rules, _ = self.bound_rules(sa, ns)
        if not rules:
            raise CannotCheck(f"no role in deploy/ is bound to ServiceAccount {ns}/{sa} "
                              "(the extender's)")
        for group, res, verb in (("", "pods/binding", "create"), ("", "nodes", "list"),
                                 ("", "nodes", "watch"), ("", "pods", "list"),
                                 ("", "pods", "watch")):
            self.expect(self.allows(rules, group, res, verb),
                        f"RBAC: ServiceAccount {ns}/{sa} (extender) cannot {verb} {res}")

        ws, _ = self.one_container("kube-scheduler")
        sa, ns = self.service_account_of(ws)
        _, bound = self.bound_rules(sa, ns)
        for ref in (("ClusterRole", "system:kube-scheduler", "*"),
                    ("ClusterRole", "system:volume-scheduler", "*"),
                    ("Role", "extension-apiserver-authentication-reader", "kube-system")):
            self.expect(ref in bound, f"RBAC: ServiceAccount {ns}/{sa} (kube-scheduler) is not "
                                      f"bound to {ref[0]} {ref[1]}"
                                      + (f" in {ref[2]}" if ref[2] != "*" else ""))

        nodes = self.containers_running("accelsched-node")
        static = [wc for wc in nodes if self.flag(wc[1], "mig") != "dynamic"]
        self.expect(len(static) == 1, f"want one workload running accelsched-node (the device "
                                      f"plugin) without --mig=dynamic, found {len(static)}")
        self.expect(len(nodes) - len(static) <= 1, "want at most one workload running "
                                                   "accelsched-node --mig=dynamic")
        for wt, _ in nodes:
            sa, ns = self.service_account_of(wt)
            rules, _ = self.bound_rules(sa, ns)
            for group, res, verb in (("", "nodes", "get"), ("", "nodes", "patch"),
                                     ("", "pods", "list"), ("", "pods", "watch"),
                                     ("", "pods", "patch")):
                self.expect(self.allows(rules, group, res, verb),
                            f"RBAC: ServiceAccount {ns}/{sa} (accelsched-node) cannot {verb} "
                            f"{res}")

        for w in self.workloads():
            sa, ns = self.service_account_of(w)
            self.expect(sa == "default" or self.find("ServiceAccount", sa, ns),
                        f"{w.label()}: ServiceAccount {ns}/{sa} is not in deploy/")

    def check_security(self) -> None:
        workloads = self.workloads()
        if not workloads:
            raise CannotCheck("no Deployment or DaemonSet in deploy/")
        for w in workloads:
            spec = self.pod_spec(w)
            pod_sc = spec.get("securityContext") or {}
            containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
            if not self.expect(containers, f"{w.label()}: has no containers"):
                continue
            for c in containers:
                sc = c.get("securityContext") or {}
                non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
                argv = self.argv(c)
                if (argv and posixpath.basename(argv[0]) == "accelsched-node"
                        and self.flag(c, "mig") == "dynamic"):
                    # Making MIG instances needs the caps devices: privileged, on opted-in nodes.
                    selector = spec.get("nodeSelector") or {}
                    self.expect(selector.get("accelsched.io/mig-mode") == "dynamic",
                                f"{w.label()} container {c.get('name')}: runs --mig=dynamic "
                                "privileged, so it must select only nodes labelled "
                                "accelsched.io/mig-mode=dynamic")
                elif argv and posixpath.basename(argv[0]) == "accelsched-node":
                    caps = (sc.get("capabilities") or {}).get("drop") or []
                    self.expect(caps == ["ALL"] and sc.get("allowPrivilegeEscalation") is False
                                and not sc.get("privileged"),
                                f"{w.label()} container {c.get('name')}: runs as root, so it "
                                "must drop ALL capabilities and forbid privilege escalation")
                else:
                    self.expect(non_root is True, f"{w.label()} container {c.get('name')}: "
                                                  "runAsNonRoot is not true")
                self.expect(sc.get("readOnlyRootFilesystem") is True,
                            f"{w.label()} container {c.get('name')}: readOnlyRootFilesystem "
                            "is not true")

    def check_device_plugin(self) -> None:
        found = self.containers_running("accelsched-node")
        if not found:
            raise CannotCheck("no workload container runs accelsched-node")
        for w, c in found:
            self.check_device_plugin_workload(w, c)
        dynamic = [w for w, c in found if self.flag(c, "mig") == "dynamic"]
        for w, c in found:
            if self.flag(c, "mig") == "dynamic" or not dynamic:
                continue
            # The static plugin keeps off dynamic nodes: two plugins must not serve one node.
            terms = ((((self.pod_spec(w).get("affinity") or {}).get("nodeAffinity") or {})
                      .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
                     .get("nodeSelectorTerms") or [])
            self.expect(terms and all(
                any(e.get("key") == "accelsched.io/mig-mode" and e.get("operator") == "NotIn"
                    and "dynamic" in (e.get("values") or [])
                    for e in t.get("matchExpressions") or []) for t in terms),
                f"{w.label()}: must keep off nodes labelled accelsched.io/mig-mode=dynamic "
                "(nodeAffinity NotIn), which the --mig=dynamic DaemonSet serves")

    def check_device_plugin_workload(self, w, c) -> None:
        spec = self.pod_spec(w)
        self.expect(spec.get("runtimeClassName") == "nvidia",
                    f"{w.label()}: runtimeClassName must be nvidia (NVML comes from the driver)")
        mounts = {m.get("name"): m.get("mountPath") for m in c.get("volumeMounts") or []}
        host = {v.get("name"): (v.get("hostPath") or {}).get("path")
                for v in spec.get("volumes") or []}
        self.expect(any(host.get(name) == PLUGIN_DIR and path == PLUGIN_DIR
                        for name, path in mounts.items()),
                    f"{w.label()}: must mount hostPath {PLUGIN_DIR} at {PLUGIN_DIR}")

    def check_example_pods(self) -> None:
        pods = [o for o in self.objects
                if o.kind == "Pod" and o.path.startswith("deploy/examples/pods/")]
        if not pods:
            raise CannotCheck("no Pod under deploy/examples/pods/")
        for p in pods:
            spec = p.doc.get("spec") or {}
            self.expect(spec.get("schedulerName") == SCHEDULER_NAME,
                        f"{p.label()}: schedulerName must be {SCHEDULER_NAME}")
            for c in spec.get("containers") or []:
                res = c.get("resources") or {}
                req, lim = res.get("requests") or {}, res.get("limits") or {}
                for name in set(req) | set(lim):
                    if "/" not in name or name.split("/")[0].endswith("kubernetes.io"):
                        continue
                    if name in req and name in lim:
                        self.expect(str(req[name]) == str(lim[name]),
                                    f"{p.label()}: extended resource {name} request "
                                    f"{req[name]} != limit {lim[name]}")
                    else:
                        self.expect(name in lim, f"{p.label()}: extended resource {name} "
                                                 "needs a limit equal to its request")

    def check_images(self) -> None:
        """Our containers run a binary the image ships, from the image `make image` builds:
        accelsched/accelsched:<project version in CMakeLists.txt>."""
        with open(os.path.join(self.root, "CMakeLists.txt"), encoding="utf-8") as f:
            m = re.search(r"project\(accelsched VERSION ([0-9.]+)", f.read())
        if not m:
            raise CannotCheck("CMakeLists.txt: no project(accelsched VERSION x.y.z)")
        want = f"accelsched/accelsched:{m.group(1)}"
        with open(os.path.join(self.root, CONTAINERFILE), encoding="utf-8") as f:
            shipped = set(re.findall(r"/build/[a-z]+/(accelsched-[a-z]+)", f.read()))
        if not shipped:
            raise CannotCheck(f"{CONTAINERFILE}: installs no accelsched-* binary")
        ours = 0
        for w in self.workloads():
            for c in self.pod_spec(w).get("containers") or []:
                argv = self.argv(c)
                binary = posixpath.basename(argv[0]) if argv else ""
                if not binary.startswith("accelsched-"):
                    continue
                ours += 1
                self.expect(binary in shipped, f"{w.label()} container {c.get('name')}: runs "
                                               f"{binary}, which {CONTAINERFILE} does not ship")
                self.expect(c.get("image") == want,
                            f"{w.label()} container {c.get('name')}: image "
                            f"{c.get('image')!r}, but `make image` builds {want}")
        self.expect(ours > 0, "no container in deploy/ runs an accelsched-* binary")

    def check_demo_cluster(self) -> None:
        path = os.path.join(self.root, DEMO_CLUSTER)
        if not os.path.isfile(path):
            raise CannotCheck(f"{DEMO_CLUSTER} is missing")
        lists = [o for o in self.objects if o.path == DEMO_CLUSTER and o.kind == "List"]
        if len(lists) != 1:
            raise CannotCheck(f"{DEMO_CLUSTER}: expected one List document, found {len(lists)}")
        self.expect(lists[0].doc.get("apiVersion") == "v1", f"{DEMO_CLUSTER}: List is not v1")
        items = self.list_items.get(DEMO_CLUSTER, [])
        nodes = [o for o in items if o.kind == "Node"]
        self.expect(len(nodes) >= 10, f"{DEMO_CLUSTER}: {len(nodes)} Nodes, need at least 10")
        gpu_count = {}
        for n in nodes:
            self.expect(n.name not in gpu_count, f"{n.where}: Node {n.name} appears twice")
            md = n.doc.get("metadata") or {}
            labels = md.get("labels") or {}
            status = n.doc.get("status") or {}
            cap = status.get("capacity") or {}
            self.expect(labels.get("kubernetes.io/hostname") == n.name,
                        f"{n.label()}: label kubernetes.io/hostname must equal the name")
            is_gpu = (labels.get("nvidia.com/gpu.present") == "true" or GPU_RESOURCE in cap
                      or any(k.startswith("nvidia.com/mig-") for k in cap))
            gpu_count[n.name] = 0
            if not is_gpu:
                continue
            product, count = labels.get("nvidia.com/gpu.product"), labels.get("nvidia.com/gpu.count")
            self.expect(isinstance(product, str) and product,
                        f"{n.label()}: GPU node without label nvidia.com/gpu.product")
            if not self.expect(isinstance(count, str) and count.isdigit() and int(count) > 0,
                               f"{n.label()}: GPU node without a positive label "
                               f"nvidia.com/gpu.count (got {count!r})"):
                continue
            gpu_count[n.name] = int(count)
            whole = str(cap.get(GPU_RESOURCE, "0"))
            self.expect(whole.isdigit() and int(whole) <= int(count),
                        f"{n.label()}: capacity {GPU_RESOURCE} {whole} exceeds gpu.count {count}")
            mem = labels.get("nvidia.com/gpu.memory")
            self.expect(mem is None or (isinstance(mem, str) and mem.isdigit()),
                        f"{n.label()}: label nvidia.com/gpu.memory must be MiB, got {mem!r}")
        running = [o for o in items if o.kind == "Pod"
                   and (o.doc.get("status") or {}).get("phase") == "Running"]
        if not running:
            raise CannotCheck(f"{DEMO_CLUSTER}: no Running pod")
        for p in running:
            md = p.doc.get("metadata") or {}
            self.expect(md.get("uid"), f"{p.label()}: Running pod without metadata.uid")
            node = (p.doc.get("spec") or {}).get("nodeName")
            if not self.expect(node in gpu_count, f"{p.label()}: Running pod's spec.nodeName "
                                                  f"{node!r} is not a Node of the List"):
                continue
            ids = (md.get("annotations") or {}).get("accelsched.io/gpu-ids")
            if ids is not None:
                parts = str(ids).split(",")
                self.expect(all(x.isdigit() and int(x) < gpu_count[node] for x in parts),
                            f"{p.label()}: accelsched.io/gpu-ids {ids!r} is not a list of GPU "
                            f"indices below {node}'s gpu.count {gpu_count[node]}")

    def main(self) -> int:
        try:
            self.load()
        except CannotCheck as e:
            self.fail(f"cannot load manifests: {e}")
            for f in self.failures:
                print(f)
            return 1
        for name, fn in (("kustomizations", self.check_kustomizations),
                         ("kube-scheduler configuration", self.check_scheduler),
                         ("RBAC", self.check_rbac),
                         ("container security", self.check_security),
                         ("device plugin", self.check_device_plugin),
                         ("example pods", self.check_example_pods),
                         ("images", self.check_images),
                         ("demo cluster", self.check_demo_cluster)):
            self.run(name, fn)
        if self.failures:
            for f in self.failures:
                print(f)
            return 1
        print("PASS")
        return 0


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(f"usage: {os.path.basename(argv[0])} REPO_ROOT", file=sys.stderr)
        return 2
    return Checker(argv[1]).main()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
