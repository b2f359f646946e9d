# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The semantic diff: typed changes between two states (``state.desired_state`` documents).

A pure function of its inputs, in the model's vocabulary (cluster, virtual services, real
servers), whatever the engine. Each engine's planner (``_engine``) starts from it and adds the
operations that carry the changes out; check mode and a real run compute the same plan.
"""

from __future__ import annotations

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._plan.change import Change, hide_secret


def _fields(before, after, prefix=""):
    """(field, before, after) for every leaf that differs; nested mappings are flattened."""
    out = []
    for key in sorted(set(before) | set(after)):
        b, a = before.get(key), after.get(key)
        name = prefix + key
        if isinstance(b, dict) and isinstance(a, dict):
            out.extend(_fields(b, a, name + "."))
        elif b != a:
            b, a = hide_secret(name, b, a)
            out.append((name, b, a))
    return out


def _service_label(key, svc):
    return "%s (%s)" % (svc["name"], key.split("/", 1)[1].replace("/", ":") + "/" + key.split("/")[0])


def _rs_label(key, rs, svc_name, name=None):
    # an engine that keeps no real-server names (a LoadMaster) passes the spec's, or has the address and port
    name = rs.get("name") or name
    if name:
        return "%s %s in %s" % (name, key, svc_name)
    return "%s in %s" % (key, svc_name)


def _cluster_label(cluster):
    if cluster.get("mode") == "pair":
        return "%s (HA pair: %s with priority %s, peer %s, VRRP router %s)" % (
            cluster.get("name"), cluster.get("host"), cluster.get("priority"), ", ".join(cluster.get("unicast_peers") or []) or "multicast",
            cluster.get("virtual_router_id"))
    return "%s (single appliance %s)" % (cluster.get("name"), cluster.get("host"))


def diff(before, after, names=None):
    """Every change turning state ``before`` (None: nothing applied yet) into ``after``; ``names``:
    {"<service key>/<real server key>": name} for an engine whose state keeps no real-server names."""
    names = names or {}
    before = before or {"cluster": {}, "virtual_services": {}}
    changes = []
    cluster = after.get("cluster", {})
    if not before.get("cluster") and cluster:
        # A first apply: one line saying what this node becomes, not one per field.
        changes.append(Change("add", "cluster", cluster.get("name"), _cluster_label(cluster)))
    else:
        for field, b, a in _fields(before.get("cluster", {}), cluster):
            changes.append(Change("change", "cluster", cluster.get("name"), cluster.get("name"), field, b, a))
    old, new = before.get("virtual_services", {}), after.get("virtual_services", {})
    for key in sorted(set(old) - set(new)):
        changes.append(Change("remove", "virtual service", key, _service_label(key, old[key])))
    for key in sorted(new):
        svc = new[key]
        label = _service_label(key, svc)
        if key not in old:
            changes.append(Change("add", "virtual service", key, label))
            changes.extend(_real_servers(key, {}, svc["real_servers"], svc["name"], names))
            changes.extend(_sub_services(key, {}, svc.get("sub_services") or {}, svc["name"], names))
            continue
        prev = old[key]
        for field, b, a in _fields(_plain(prev), _plain(svc)):
            changes.append(Change("change", "virtual service", key, label, field, b, a))
        changes.extend(_real_servers(key, prev.get("real_servers", {}), svc.get("real_servers", {}), svc["name"], names))
        changes.extend(_sub_services(key, prev.get("sub_services") or {}, svc.get("sub_services") or {}, svc["name"], names))
    changes.extend(_monitoring(before.get("monitoring"), after.get("monitoring")))
    return changes


# The parts of a service (or sub service) with changes of their own.
GROUPS = ("real_servers", "sub_services")


def _plain(svc):
    return dict((k, v) for k, v in svc.items() if k not in GROUPS)


def _real_servers(key, rs_old, rs_new, svc_name, names):
    """The changes of the real servers of service (or sub service) ``key``, labelled with ``svc_name``."""
    changes = []
    for rkey in sorted(set(rs_old) - set(rs_new)):
        changes.append(Change("remove", "real server", key + "/" + rkey, _rs_label(rkey, rs_old[rkey], svc_name, names.get(key + "/" + rkey))))
    for rkey in sorted(rs_new):
        rlabel = _rs_label(rkey, rs_new[rkey], svc_name, names.get(key + "/" + rkey))
        if rkey not in rs_old:
            changes.append(Change("add", "real server", key + "/" + rkey, rlabel))
            continue
        for field, b, a in _fields(rs_old[rkey], rs_new[rkey]):
            changes.append(Change("change", "real server", key + "/" + rkey, rlabel, field, b, a))
    return changes


def _sub_services(key, old, new, svc_name, names):
    """The changes of a service's sub services (content switching): each is 'service:sub' to people, and its real servers are its own."""
    changes = []
    for name in sorted(set(old) - set(new)):
        changes.append(Change("remove", "sub service", key + "/" + name, "%s:%s" % (svc_name, name)))
    for name in sorted(new):
        sub, label, sub_key = new[name], "%s:%s" % (svc_name, name), key + "/" + name
        if name not in old:
            changes.append(Change("add", "sub service", sub_key, label))
            changes.extend(_real_servers(sub_key, {}, sub["real_servers"], label, names))
            continue
        for field, b, a in _fields(_plain(old[name]), _plain(sub)):
            changes.append(Change("change", "sub service", sub_key, label, field, b, a))
        changes.extend(_real_servers(sub_key, old[name].get("real_servers", {}), sub.get("real_servers", {}), label, names))
    return changes


def _monitoring_label(mon):
    address = mon["address"] if ":" not in mon["address"] else "[%s]" % mon["address"]
    page = " with the status page" if mon.get("status_page") else ""
    return "endpoint %s:%d (%s)%s" % (address, mon["port"], ", ".join(mon["allowed_sources"]), page)


def _monitoring(before, after):
    if before == after:
        return []
    if before is None:
        return [Change("add", "monitoring", "monitoring", _monitoring_label(after))]
    if after is None:
        return [Change("remove", "monitoring", "monitoring", _monitoring_label(before))]
    return [Change("change", "monitoring", "monitoring", _monitoring_label(after), field, b, a) for field, b, a in _fields(before, after)]
