/* Uses Lua's internals (we build Lua from its source, one known version):
 * a long string is a plain block whose hash is computed lazily, so its
 * bytes may be written after it is created. */
#include "lstr.h"

#include "lapi.h"
#include "lgc.h"
#include "lstate.h"
#include "lstring.h"

char *lstr_push_uninit(lua_State *L, size_t len) {
  if (len <= LUAI_MAXSHORTLEN) return NULL;
  lua_lock(L);
  TString *ts = luaS_createlngstrobj(L, len);
#if LUA_VERSION_RELEASE_NUM >= 50406
  setsvalue2s(L, L->top.p, ts);
#else
  setsvalue2s(L, L->top, ts);
#endif
  api_incr_top(L);
  luaC_checkGC(L); /* the string is on the stack: it survives */
  lua_unlock(L);
  return getstr(ts);
}
