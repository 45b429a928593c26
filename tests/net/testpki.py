"""A throw-away PKI for the TLS, HTTPS and MQTT-over-TLS tests, made at test
time with the `openssl` command (nothing secret is committed).

    from testpki import make_pki
    pki = make_pki(tmpdir)      # dict of PEM file paths, see KEYS below
    pki["ca"], pki["server_cert"], pki["server_key"], ...

Every leaf is signed by the test CA (ECDSA P-256) unless its name says
otherwise. Valid server certificates name DNS "localhost" and the addresses
127.0.0.1 and 10.0.2.2 (the host as QEMU's / the simulator's slirp sees it).

Run as a program to make one in a folder and print the dict as JSON:
    python3 tests/net/testpki.py DIR
"""
import datetime
import json
import os
import subprocess
import sys

# The names make_pki returns (each a file path), with what they hold.
KEYS = {
    "dir": "the folder holding everything",
    "ca": "test CA certificate (ECDSA P-256, self-signed, CA:TRUE)",
    "ca_key": "test CA private key",
    "server_cert": "ECDSA P-256 server, localhost/127.0.0.1/10.0.2.2, valid",
    "server_key": "its key",
    "server_ec_cert": "same as server_cert", "server_ec_key": "same as server_key",
    "server_rsa_cert": "RSA-2048 server, same names, valid",
    "server_rsa_key": "its key",
    "server_chain": "server_cert followed by ca (a full chain file)",
    "expired_cert": "server for the same names, validity ended in 2020",
    "expired_key": "its key",
    "notyet_cert": "server for the same names, valid from 2090",
    "notyet_key": "its key",
    "selfsigned_cert": "self-signed server for the same names (no CA)",
    "selfsigned_key": "its key",
    "wronghost_cert": "server for wrong.example only (no localhost, no IPs)",
    "wronghost_key": "its key",
    "unknownca_cert": "server for the same names signed by another CA",
    "unknownca_key": "its key",
    "other_ca": "that other CA's certificate (not trusted by default)",
    "other_ca_key": "its key",
    "client_cert": "client certificate (CN=test-client, clientAuth) from the test CA",
    "client_key": "its key",
}

SERVER_SAN = "DNS:localhost,IP:127.0.0.1,IP:10.0.2.2"

_CA_CONF = """
[ ca ]
default_ca = testca
[ testca ]
dir = {dir}
database = {dir}/index.txt
new_certs_dir = {dir}/newcerts
serial = {dir}/serial
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[ anything ]
commonName = supplied
organizationName = optional
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
"""


def _run(*args):
    subprocess.run(["openssl"] + list(args), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _eckey(path):
    _run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-out", path)


def _rsakey(path):
    _run("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
         "-out", path)


def _self_signed(d, name, key, cn, ext, days=3650):
    path = os.path.join(d, name)
    _run("req", "-new", "-x509", "-key", key, "-subj", "/CN=" + cn,
         "-days", str(days), "-sha256", "-out", path,
         "-config", _ext_conf(d, name, ext), "-extensions", "x")
    return path


def _ext_conf(d, name, ext):
    """A req config whose section [x] holds the extensions `ext`."""
    path = os.path.join(d, name + ".cnf")
    with open(path, "w") as f:
        f.write("[ req ]\ndistinguished_name = dn\nprompt = no\n[ dn ]\nCN = x\n"
                "[ x ]\n" + ext)
    return path


def _ca_dir(d, sub):
    cad = os.path.join(d, sub)
    os.makedirs(os.path.join(cad, "newcerts"), exist_ok=True)
    open(os.path.join(cad, "index.txt"), "w").close()
    with open(os.path.join(cad, "serial"), "w") as f:
        f.write("1000\n")
    conf = os.path.join(cad, "ca.cnf")
    with open(conf, "w") as f:
        f.write(_CA_CONF.format(dir=cad))
    return conf


def _sign(d, conf, ca_cert, ca_key, name, key, cn, ext,
          start="-1d", end="+3650d"):
    """A leaf for `key`, signed by (ca_cert, ca_key) with the given validity:
    relative ("+Nd"/"-Nd" from now) or absolute YYYYMMDDHHMMSSZ."""
    csr = os.path.join(d, name + ".csr")
    _run("req", "-new", "-key", key, "-subj", "/CN=" + cn, "-out", csr)
    extfile = os.path.join(d, name + ".ext")
    with open(extfile, "w") as f:
        f.write(ext)
    out = os.path.join(d, name)
    args = ["ca", "-batch", "-notext", "-config", conf, "-cert", ca_cert,
            "-keyfile", ca_key, "-in", csr, "-out", out, "-extfile", extfile,
            "-md", "sha256"]
    args += _dates(start, end)
    _run(*args)
    return out


def _dates(start, end):
    now = datetime.datetime.now(datetime.timezone.utc)

    def fmt(v):
        if v[0] in "+-":
            days = int(v[1:-1]) * (1 if v[0] == "+" else -1)
            t = now + datetime.timedelta(days=days)
            return t.strftime("%Y%m%d%H%M%SZ")
        return v
    return ["-startdate", fmt(start), "-enddate", fmt(end)]


SERVER_EXT = ("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
              "extendedKeyUsage=serverAuth\nsubjectAltName=" + SERVER_SAN + "\n")
CA_EXT = ("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
          "subjectKeyIdentifier=hash\n")


def make_pki(dirpath):
    """Make the whole test PKI in `dirpath` (created if needed); return the
    dict of KEYS -> file paths."""
    d = os.path.abspath(dirpath)
    os.makedirs(d, exist_ok=True)
    p = {"dir": d}

    def key(name, rsa=False):
        path = os.path.join(d, name)
        (_rsakey if rsa else _eckey)(path)
        return path

    p["ca_key"] = key("ca.key")
    p["ca"] = _self_signed(d, "ca.pem", p["ca_key"], "LuaOS Test CA", CA_EXT)
    conf = _ca_dir(d, "ca.db")

    def leaf(name, cn, ext=SERVER_EXT, rsa=False, **dates):
        k = key(name + ".key", rsa)
        c = _sign(d, conf, p["ca"], p["ca_key"], name + ".pem", k, cn, ext, **dates)
        p[name + "_cert"], p[name + "_key"] = c, k

    leaf("server", "localhost")
    p["server_ec_cert"], p["server_ec_key"] = p["server_cert"], p["server_key"]
    leaf("server_rsa", "localhost", rsa=True)
    leaf("expired", "localhost", start="20190101000000Z", end="20200101000000Z")
    leaf("notyet", "localhost", start="20900101000000Z", end="20910101000000Z")
    leaf("wronghost", "wrong.example",
         ext=SERVER_EXT.replace(SERVER_SAN, "DNS:wrong.example"))
    leaf("client", "test-client",
         ext="basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
             "extendedKeyUsage=clientAuth\n")

    p["selfsigned_key"] = key("selfsigned.key")
    p["selfsigned_cert"] = _self_signed(
        d, "selfsigned.pem", p["selfsigned_key"], "localhost",
        "basicConstraints=CA:FALSE\nsubjectAltName=" + SERVER_SAN + "\n")

    p["other_ca_key"] = key("other_ca.key")
    p["other_ca"] = _self_signed(d, "other_ca.pem", p["other_ca_key"],
                                 "Some Other CA", CA_EXT)
    oconf = _ca_dir(d, "other_ca.db")
    p["unknownca_key"] = key("unknownca.key")
    p["unknownca_cert"] = _sign(d, oconf, p["other_ca"], p["other_ca_key"],
                                "unknownca.pem", p["unknownca_key"], "localhost",
                                SERVER_EXT)

    p["server_chain"] = os.path.join(d, "server_chain.pem")
    with open(p["server_chain"], "w") as out:
        for f in (p["server_cert"], p["ca"]):
            with open(f) as src:
                out.write(src.read())
    missing = set(KEYS) - set(p)
    assert not missing, missing
    return p


def existing_pki(dirpath):
    """The dict make_pki returned for `dirpath`, for a PKI made earlier
    (e.g. at build time, its CA built into an image); KeyError if a file
    is missing."""
    d = os.path.abspath(dirpath)
    names = {"dir": d, "ca": "ca.pem", "ca_key": "ca.key", "other_ca": "other_ca.pem",
             "other_ca_key": "other_ca.key", "server_chain": "server_chain.pem"}
    for leaf in ("server", "server_rsa", "expired", "notyet", "wronghost", "client",
                 "selfsigned", "unknownca"):
        names[leaf + "_cert"], names[leaf + "_key"] = leaf + ".pem", leaf + ".key"
    names["server_ec_cert"], names["server_ec_key"] = "server.pem", "server.key"
    p = {k: (v if k == "dir" else os.path.join(d, v)) for k, v in names.items()}
    for k, v in p.items():
        if not os.path.exists(v):
            raise KeyError("%s: %s missing" % (k, v))
    return p


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: testpki.py DIR")
    print(json.dumps(make_pki(sys.argv[1]), indent=1, sort_keys=True))
