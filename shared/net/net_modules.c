#include "net_modules.h"

#include "net_lua.h"

const modreg_entry_t net_modules[] = {{"net", luaopen_net}, {"socket", luaopen_socket},
                                      {NULL, NULL}};
