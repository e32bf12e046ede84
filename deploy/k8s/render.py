#!/usr/bin/env python3
"""Renders a kustomization of deploy/k8s the way `kubectl kustomize` does, for
the subset of kustomize these manifests use, so that `make deploy-check`
needs no kubectl: `resources` (files and kustomization directories),
`namespace`, `labels` (metadata labels only), and `patches` given by `path`:
strategic merge patches (maps merge, null deletes a key, lists of objects
with a `name` merge by name, other lists are replaced) and `$patch: delete`
of a whole resource. Anything else in a kustomization is refused, so that
the renderer never silently differs from kustomize; test_deploy.py compares
its output with `kubectl kustomize` where kubectl is installed.

usage: render.py DIR [OUT]   (OUT: a file of YAML documents; default stdout)
"""

import copy
import os
import sys

import yaml

KNOWN = {"apiVersion", "kind", "resources", "namespace", "labels", "patches"}
CLUSTER_SCOPED = {"Namespace", "PersistentVolume", "ClusterRole", "ClusterRoleBinding",
                  "StorageClass", "CustomResourceDefinition"}


def key(doc):
    return (doc["kind"], doc["metadata"]["name"])


def merge(base, patch):
    """Strategic merge of patch into base (both parsed YAML); returns the result."""
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(base)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        elif k in out and isinstance(v, list) and isinstance(out[k], list) and v and \
                all(isinstance(i, dict) and "name" in i for i in v) and \
                all(isinstance(i, dict) and "name" in i for i in out[k]):
            items = list(out[k])
            for p in v:
                idx = next((n for n, i in enumerate(items) if i["name"] == p["name"]), None)
                if idx is None:
                    items.append(copy.deepcopy(p))
                else:
                    items[idx] = merge(items[idx], p)
            out[k] = items
        elif k in out:
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def render(directory):
    """Returns the list of resources the kustomization in directory makes."""
    with open(os.path.join(directory, "kustomization.yaml"), encoding="utf-8") as f:
        kust = yaml.safe_load(f)
    unknown = set(kust) - KNOWN
    if unknown:
        raise SystemExit("%s: render.py does not implement %s (use kubectl kustomize)"
                         % (directory, ", ".join(sorted(unknown))))
    docs = []
    for res in kust.get("resources", []):
        path = os.path.normpath(os.path.join(directory, res))
        docs.extend(render(path) if os.path.isdir(path) else load_docs(path))
    for p in kust.get("patches", []):
        if set(p) != {"path"}:
            raise SystemExit("%s: only patches with a path are implemented" % directory)
        for patch in load_docs(os.path.join(directory, p["path"])):
            target = key(patch)
            idx = next((n for n, d in enumerate(docs) if key(d) == target), None)
            if idx is None:
                raise SystemExit("%s: patch %s matches no resource %s/%s"
                                 % (directory, p["path"], *target))
            if patch.get("$patch") == "delete":
                del docs[idx]
            else:
                docs[idx] = merge(docs[idx], patch)
    for entry in kust.get("labels", []):
        if entry.get("includeSelectors") or entry.get("includeTemplates"):
            raise SystemExit("%s: only labels on metadata are implemented" % directory)
        for d in docs:
            d.setdefault("metadata", {}).setdefault("labels", {}).update(entry["pairs"])
    ns = kust.get("namespace")
    if ns:
        for d in docs:
            if d["kind"] not in CLUSTER_SCOPED:
                d["metadata"]["namespace"] = ns
    return docs


def main(argv):
    if len(argv) not in (2, 3):
        sys.stderr.write(__doc__)
        return 2
    text = yaml.safe_dump_all(render(argv[1]), sort_keys=True, default_flow_style=False)
    if len(argv) == 3:
        with open(argv[2], "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
