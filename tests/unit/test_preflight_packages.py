"""The appliance's package check (the appliance module and appliance_preflight): which of the
packages dpkg does not report as installed."""

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._backend.linux import missing_packages


class Host(object):
    def __init__(self, answer, has_dpkg=True):
        self.answer = answer
        self.has_dpkg = has_dpkg
        self.argv = None

    def which(self, name):
        return "/usr/bin/" + name if self.has_dpkg else None

    def run(self, argv, check=True):
        self.argv = argv
        return self.answer


def test_installed_packages_are_not_missing():
    # dpkg-query lists the known packages and complains (rc 1) about the rest.
    host = Host((1, "haproxy\tii \nkeepalived\trc \nipvsadm\tun \n", "dpkg-query: no packages found matching iputils-ping\n"))
    assert missing_packages(host, ["keepalived", "haproxy", "ipvsadm", "iputils-ping"]) == ["keepalived", "ipvsadm", "iputils-ping"]
    # The names reach dpkg-query as arguments after "--", never as options or shell text.
    assert host.argv[:2] == ["dpkg-query", "--show"] and host.argv[4:] == ["--", "keepalived", "haproxy", "ipvsadm", "iputils-ping"]


def test_architecture_qualified_names_and_held_packages_count_as_installed():
    assert missing_packages(Host((0, "haproxy:amd64\tii \n", "")), ["haproxy"]) == []
    # apt-mark hold: wanted "hold", installed
    assert missing_packages(Host((0, "keepalived\thi \n", "")), ["keepalived"]) == []


def test_without_dpkg_everything_is_missing_and_nothing_asked_for_nothing():
    assert missing_packages(Host((0, "", ""), has_dpkg=False), ["haproxy"]) == ["haproxy"]
    host = Host((0, "", ""))
    assert missing_packages(host, []) == [] and host.argv is None
