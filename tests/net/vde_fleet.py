#!/usr/bin/env python3
"""How many simulated devices one VDE switch carries while each keeps a 1 s
UDP heartbeat within 10 ms (docs/networking.md, "VDE fleets"). A figure,
not a test (ctest does not run it):

    python3 tests/net/vde_fleet.py [LUAOS] [--sizes 10,50,100,200] [--seconds 10]

For each fleet size N: a vde_switch on a temporary socket, N devices
(192.0.2.10 ...) sending "ID K" every second with timer.every (due times
start + k s), and one collector device (192.0.2.2) that notes each
heartbeat's arrival on its own clock. A heartbeat's lateness is its
arrival minus K seconds, less the smallest such value of its sender: the
sender's timer lateness, the switch and the collector's own delay, all
together. The collector counts the heartbeats of its window (it starts
once every device is up), each sender's first two left out (they may have
waited in the sender's ARP queue for the collector to appear). No root; nothing leaves the switch."""
import argparse
import os
import subprocess
import sys
import time

import netutil
from netutil import LUA_PRELUDE, Device, Sandbox

SENDER = LUA_PRELUDE + """
local socket = require("socket")
local timer = require("timer")
local collector, id = ...
assert(net.wait_up(5000))
local u = assert(socket.udp())
local k = 0
local t = timer.every(1000, function()
  k = k + 1
  u:sendto(id .. " " .. k, collector, 9999)
end)
say("up")
task.sleep(600000) -- ended by the script (SIGTERM): no polling while it runs
t:cancel()
u:close()
"""

COLLECTOR = LUA_PRELUDE + """
local socket = require("socket")
local seconds = tonumber((...))
assert(net.wait_up(5000))
local u = assert(socket.udp())
assert(u:setsockname("0.0.0.0", 9999))
-- per sender: arrival - K seconds, for every heartbeat after its first two
-- (those may have waited in the sender's ARP queue for us to come up)
local offsets, seen, senders = {}, {}, 0
local t_end = sys.uptime() + seconds * 1000
say("collecting")
while true do
  local left = t_end - sys.uptime()
  if left <= 0 then break end
  local data = u:receivefrom(left)
  if data then
    local now = sys.uptime()
    local id, k = data:match("^(%S+) (%d+)$")
    if not seen[id] then
      seen[id] = 0
      offsets[id] = {}
      senders = senders + 1
    end
    seen[id] = seen[id] + 1
    if seen[id] > 2 then
      local o = offsets[id]
      o[#o + 1] = now - tonumber(k) * 1000
    end
  end
end
-- lateness: how much later than the sender's earliest arrival (in phase)
local late = {}
for _, o in pairs(offsets) do
  local best = math.huge
  for _, v in ipairs(o) do best = math.min(best, v) end
  for _, v in ipairs(o) do late[#late + 1] = v - best end
end
table.sort(late)
local n = #late
local function q(p) return n > 0 and late[math.max(1, math.ceil(n * p))] or 0 end
say("result", senders, n, q(1), q(0.99), q(0.5))
"""


def measure(luaos, n, seconds):
    sb = Sandbox("luaos-vde-fleet-")
    devs = []
    switch = None
    try:
        sock = sb.path("switch")
        switch = subprocess.Popen(["vde_switch", "-s", sock, "-n", str(n + 16)],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        for _ in range(50):
            if os.path.exists(os.path.join(sock, "ctl")):
                break
            time.sleep(0.1)
        sender = sb.write("sender.lua", SENDER)
        for i in range(n):
            ip = f"192.0.2.{10 + i}"
            devs.append(Device(luaos, sender, ["--net", "vde:" + sock, "--ip", ip + "/24"],
                               app_args=["192.0.2.2", ip], env=sb.env()))
        for d in devs:
            if d.wait_line("up", timeout=120) is None:
                rc, err = d.finish(1)
                raise RuntimeError(f"a sender did not start ({rc}): {err}")
        time.sleep(1.5)  # every sender past its first heartbeat
        coll = Device(luaos, sb.write("collector.lua", COLLECTOR),
                      ["--net", "vde:" + sock, "--ip", "192.0.2.2/24"],
                      app_args=[str(seconds)], env=sb.env())
        devs.append(coll)
        line = coll.wait_line("result", timeout=seconds + 60)
        if line is None:
            rc, err = coll.finish(1)
            raise RuntimeError(f"the collector failed ({rc}): {err}")
        f = line.split("\t")
        return int(f[1]), int(f[2]), float(f[3]), float(f[4]), float(f[5])
    finally:
        for d in devs:
            if d.proc.poll() is None:
                d.proc.terminate()
        for d in devs:
            d.finish(10)
        if switch:
            switch.terminate()
            switch.wait()
            switch.stdin.close()
        sb.remove()


def main():
    luaos = netutil.luaos_path(sys.argv)
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,50,100,200")
    ap.add_argument("--seconds", type=int, default=10)
    a = ap.parse_args()
    print(f"{'devices':>8} {'seen':>5} {'beats':>6} {'max ms':>8} {'p99 ms':>8} {'p50 ms':>8}")
    best = 0
    for n in (int(x) for x in a.sizes.split(",")):
        if n > 240:
            sys.exit("at most 240 devices (192.0.2.10 .. 192.0.2.249)")
        seen, beats, mx, p99, p50 = measure(luaos, n, a.seconds)
        # every sender heard, nearly every heartbeat of the window counted
        ok = seen == n and beats >= n * (a.seconds - 4) and mx <= 10.0
        best = n if ok else best
        print(f"{n:8d} {seen:5d} {beats:6d} {mx:8.2f} {p99:8.2f} {p50:8.2f}"
              f"  {'within 10 ms' if ok else 'MISSED'}", flush=True)
    print(f"largest fleet with every heartbeat within 10 ms: {best}")


if __name__ == "__main__":
    main()
