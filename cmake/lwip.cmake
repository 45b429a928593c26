# lwIP from the Debian source package `lwip` (it carries lwIP's unix port
# under port/), unpacked into the build tree at configure time like Lua.
# Host and board compile the same core files with one configuration,
# shared/net/lwipopts.h (sizes per port explained there and in
# docs/networking.md). NO_SYS=1: no threads, the event loop drives lwIP.
luaos_deb_source(lwip LWIP_DIR)
set(LWIP_DIR ${LWIP_DIR} CACHE INTERNAL "")

set(_lwip_src
  core/init.c core/def.c core/dns.c core/inet_chksum.c core/ip.c core/mem.c
  core/memp.c core/netif.c core/pbuf.c core/raw.c core/stats.c core/sys.c
  core/tcp.c core/tcp_in.c core/tcp_out.c core/timeouts.c core/udp.c
  core/ipv4/autoip.c core/ipv4/dhcp.c core/ipv4/etharp.c core/ipv4/icmp.c
  core/ipv4/igmp.c core/ipv4/ip4_frag.c core/ipv4/ip4.c core/ipv4/ip4_addr.c
  api/err.c netif/ethernet.c
  apps/sntp/sntp.c apps/mdns/mdns.c)
# lwiperf (net.iperf_server): a measuring tool. In the simulator always; in
# a board image only on request (its tests' image), 3.7 KB of flash.
option(LUAOS_NET_IPERF "Build lwIP's iperf server (net.iperf_server)" ${LUAOS_HOST})
if(LUAOS_NET_IPERF)
  list(APPEND _lwip_src apps/lwiperf/lwiperf.c)
endif()
set(LWIP_SOURCES)
foreach(f ${_lwip_src})
  list(APPEND LWIP_SOURCES ${LWIP_DIR}/src/${f})
endforeach()

add_library(luaos_lwip STATIC ${LWIP_SOURCES})
# Our configuration (shared/net: lwipopts.h, arch/cc.h) comes first.
target_include_directories(luaos_lwip PUBLIC ${CMAKE_SOURCE_DIR}/shared/net
  ${LWIP_DIR}/src/include)
if(NOT LUAOS_HOST)
  target_compile_definitions(luaos_lwip PUBLIC LUAOS_TARGET)
endif()
if(LUAOS_NET_IPERF)
  target_compile_definitions(luaos_lwip PUBLIC LUAOS_NET_IPERF)
endif()
if(LUAOS_FUZZ)
  target_compile_definitions(luaos_lwip PUBLIC LUAOS_NET_FUZZ)
endif()
# Third-party code: its own warnings are not ours to fix.
target_compile_options(luaos_lwip PRIVATE -w)
