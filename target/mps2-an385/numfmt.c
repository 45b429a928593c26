/* Exact number formatting and parsing without libc's printf/strtod.
 *
 * Printing a double: its exact decimal expansion is computed with a small
 * big integer (base 1e9): m * 2^e is m * 2^e for e >= 0 and m * 5^-e
 * scaled by 10^e for e < 0. Rounding that exact digit string to the
 * requested precision (ties to even) gives what a correct printf gives.
 *
 * Reading a decimal: a double estimate is refined by comparing the exact
 * value D * 10^E against the midpoints between neighbouring doubles
 * (big integers in base 2^32, only multiplications and shifts), until the
 * nearest double (ties to even) is found. */
#include "numfmt.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* ---- output with snprintf semantics ---- */

typedef struct {
  char *p;
  size_t room; /* bytes left, the terminating NUL included */
  int n;       /* length the full output has */
} nf_out_t;

static void nf_putc(nf_out_t *o, char c) {
  if (o->room > 1) {
    *o->p++ = c;
    o->room--;
  }
  o->n++;
}

static void nf_puts(nf_out_t *o, const char *s, size_t len) {
  while (len--) nf_putc(o, *s++);
}

static void nf_pad(nf_out_t *o, char c, int k) {
  while (k-- > 0) nf_putc(o, c);
}

typedef struct {
  bool minus, plus, space, hash, zero;
  int width;
  int prec; /* -1: not given */
} nf_spec_t;

/* prefix (sign, 0x), `zeros` zeros, body; padded to the field width. */
static void nf_emit(nf_out_t *o, const nf_spec_t *sp, const char *pre, size_t plen, int zeros,
                    const char *body, size_t blen, bool numeric) {
  int len = (int)(plen + blen) + zeros;
  int pad = sp->width > len ? sp->width - len : 0;
  bool zpad = numeric && sp->zero && !sp->minus;
  if (!sp->minus && !zpad) nf_pad(o, ' ', pad);
  nf_puts(o, pre, plen);
  if (zpad) nf_pad(o, '0', pad);
  nf_pad(o, '0', zeros);
  nf_puts(o, body, blen);
  if (sp->minus) nf_pad(o, ' ', pad);
}

static void nf_int(nf_out_t *o, nf_spec_t *sp, char conv, unsigned long long v, bool neg) {
  char buf[24];
  int i = (int)sizeof buf;
  unsigned base = conv == 'o' ? 8u : (conv == 'x' || conv == 'X') ? 16u : 10u;
  const char *digits = conv == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
  while (v > 0xFFFFFFFFu) { /* 64-bit division only while needed */
    buf[--i] = digits[v % base];
    v /= base;
  }
  for (uint32_t w = (uint32_t)v; w; w /= base) buf[--i] = digits[w % base];
  int nd = (int)sizeof buf - i;
  char pre[2];
  size_t pl = 0;
  if (conv == 'd' || conv == 'i') {
    if (neg) pre[pl++] = '-';
    else if (sp->plus) pre[pl++] = '+';
    else if (sp->space) pre[pl++] = ' ';
  }
  int zeros = 0;
  if (sp->prec >= 0) {
    sp->zero = false; /* a precision overrides the 0 flag */
    zeros = sp->prec > nd ? sp->prec - nd : 0;
  } else if (nd == 0) {
    zeros = 1; /* the digit of 0 */
  }
  if (sp->hash && conv == 'o' && zeros == 0) zeros = 1;
  if (sp->hash && (conv == 'x' || conv == 'X') && nd > 0) {
    pre[pl++] = '0';
    pre[pl++] = conv;
  }
  nf_emit(o, sp, pre, pl, zeros, buf + i, (size_t)nd, true);
}

/* ---- exact decimal expansion of a double ---- */

#define NF_BASE 1000000000u
#define NF_LIMBS 96  /* 5^1074 * 2^53 has 767 digits: 86 limbs of 9 */
#define NF_DIGITS 800
#define NF_POW5_13 1220703125u

typedef struct {
  char d[NF_DIGITS];
  int nd;   /* significant digits, no trailing zeros; 0 for zero */
  int dexp; /* value = 0.d[0]d[1]... * 10^dexp */
} nf_dec_t;

static const uint32_t nf_pow5[13] = {1,       5,        25,        125,       625,
                                     3125,    15625,    78125,     390625,    1953125,
                                     9765625, 48828125, 244140625};

/* a (base 1e9, n limbs, little end first) *= f, f < 2^31. */
static int nf_mul9(uint32_t *a, int n, uint32_t f) {
  uint32_t carry = 0;
  for (int i = 0; i < n; i++) {
    uint64_t t = (uint64_t)a[i] * f + carry;
    carry = (uint32_t)(t / NF_BASE);
    a[i] = (uint32_t)(t - (uint64_t)carry * NF_BASE);
  }
  while (carry && n < NF_LIMBS) {
    a[n++] = carry % NF_BASE;
    carry /= NF_BASE;
  }
  return n;
}

/* m * 2^e2 exactly, m > 0. */
static void nf_exact(uint64_t m, int e2, nf_dec_t *out) {
  uint32_t a[NF_LIMBS];
  a[0] = (uint32_t)(m % NF_BASE);
  a[1] = (uint32_t)(m / NF_BASE); /* m < 2^53 < 1e18 */
  int n = a[1] ? 2 : 1;
  int k = 0; /* the decimal point sits k digits from the right */
  if (e2 > 0) {
    for (; e2 >= 29; e2 -= 29) n = nf_mul9(a, n, 1u << 29);
    if (e2) n = nf_mul9(a, n, 1u << e2);
  } else if (e2 < 0) {
    k = -e2;
    int r = k;
    for (; r >= 13; r -= 13) n = nf_mul9(a, n, NF_POW5_13);
    if (r) n = nf_mul9(a, n, nf_pow5[r]);
  }
  char *d = out->d;
  int nd = 0;
  char top[10];
  int tl = 0;
  for (uint32_t v = a[n - 1]; v; v /= 10) top[tl++] = (char)('0' + v % 10);
  while (tl) d[nd++] = top[--tl];
  for (int i = n - 2; i >= 0; i--) {
    uint32_t v = a[i];
    for (int j = 8; j >= 0; j--) {
      d[nd + j] = (char)('0' + v % 10);
      v /= 10;
    }
    nd += 9;
  }
  out->dexp = nd - k;
  while (nd > 0 && d[nd - 1] == '0') nd--;
  out->nd = nd;
}

/* Keep the first `keep` digits (may be <= 0), rounding half to even. */
static void nf_round(nf_dec_t *x, int keep) {
  if (keep >= x->nd) return;
  if (keep < 0) {
    x->nd = 0;
    return;
  }
  char r = x->d[keep];
  bool up;
  if (keep == 0)
    up = r > '5' || (r == '5' && x->nd > 1);
  else
    up = r > '5' || (r == '5' && (x->nd > keep + 1 || ((x->d[keep - 1] - '0') & 1)));
  x->nd = keep;
  if (up) {
    int i = keep - 1;
    while (i >= 0 && x->d[i] == '9') i--;
    if (i < 0) { /* 99.9 -> 100 */
      x->d[0] = '1';
      x->nd = 1;
      x->dexp++;
      return;
    }
    x->d[i]++;
    x->nd = i + 1;
  }
  while (x->nd > 0 && x->d[x->nd - 1] == '0') x->nd--;
}

static char nf_digit(const nf_dec_t *x, int i) { return (i >= 0 && i < x->nd) ? x->d[i] : '0'; }

#define NF_BODY 520 /* %f of 1e308 with precision 100, plus room */
#define NF_MAXPREC 100

/* 'e' style: d.ddde+XX */
static int nf_body_e(char *b, const nf_dec_t *x, int prec, bool hash, bool upper) {
  int n = 0;
  b[n++] = x->nd ? x->d[0] : '0';
  if (prec > 0 || hash) b[n++] = '.';
  for (int i = 1; i <= prec; i++) b[n++] = nf_digit(x, i);
  int e = x->nd ? x->dexp - 1 : 0;
  b[n++] = upper ? 'E' : 'e';
  b[n++] = e < 0 ? '-' : '+';
  if (e < 0) e = -e;
  if (e >= 100) b[n++] = (char)('0' + e / 100);
  b[n++] = (char)('0' + e / 10 % 10);
  b[n++] = (char)('0' + e % 10);
  return n;
}

/* 'f' style: ddd.ddd */
static int nf_body_f(char *b, const nf_dec_t *x, int prec, bool hash) {
  int n = 0;
  if (x->nd == 0 || x->dexp <= 0) {
    b[n++] = '0';
  } else {
    for (int i = 0; i < x->dexp; i++) b[n++] = nf_digit(x, i);
  }
  if (prec > 0 || hash) b[n++] = '.';
  for (int i = 0; i < prec; i++) b[n++] = x->nd ? nf_digit(x, x->dexp + i) : '0';
  return n;
}

/* Hexadecimal float, as C99 %a: 0x1.8p+0. */
static int nf_body_a(char *b, uint64_t bits, int prec, bool hash, bool upper) {
  const char *hx = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  int ex = (int)((bits >> 52) & 0x7FF);
  uint64_t frac = bits & ((UINT64_C(1) << 52) - 1);
  unsigned lead = ex ? 1 : 0;
  int e = ex ? ex - 1023 : (frac ? -1022 : 0);
  int nd;
  if (prec < 0) {
    nd = 13;
    while (nd > 0 && !((frac >> (4 * (13 - nd))) & 0xF)) nd--;
  } else if (prec < 13) {
    int shift = 52 - 4 * prec;
    uint64_t rem = frac & ((UINT64_C(1) << shift) - 1), half = UINT64_C(1) << (shift - 1);
    frac >>= shift;
    /* ties to even, the leading digit counting when no fraction is kept */
    if (rem > half || (rem == half && ((frac | ((uint64_t)lead << (4 * prec))) & 1))) frac++;
    if (frac >> (4 * prec)) { /* carried into the leading digit */
      lead++;
      frac &= (UINT64_C(1) << (4 * prec)) - 1;
    }
    frac <<= shift;
    nd = prec;
  } else {
    nd = prec;
  }
  int n = 0;
  b[n++] = hx[lead];
  if (nd > 0 || hash) b[n++] = '.';
  for (int i = 0; i < nd; i++) b[n++] = i < 13 ? hx[(frac >> (48 - 4 * i)) & 0xF] : '0';
  b[n++] = upper ? 'P' : 'p';
  b[n++] = e < 0 ? '-' : '+';
  if (e < 0) e = -e;
  char t[6];
  int tl = 0;
  do {
    t[tl++] = (char)('0' + e % 10);
    e /= 10;
  } while (e);
  while (tl) b[n++] = t[--tl];
  return n;
}

static void nf_float(nf_out_t *o, nf_spec_t *sp, char conv, double v) {
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  bool neg = bits >> 63;
  bits &= ~(UINT64_C(1) << 63);
  bool upper = conv == 'E' || conv == 'F' || conv == 'G' || conv == 'A';
  char pre[4];
  size_t pl = 0;
  if (neg) pre[pl++] = '-';
  else if (sp->plus) pre[pl++] = '+';
  else if (sp->space) pre[pl++] = ' ';
  if ((bits >> 52) == 0x7FF) { /* inf, nan: no zero padding */
    const char *s = (bits << 12) ? (upper ? "NAN" : "nan") : (upper ? "INF" : "inf");
    nf_emit(o, sp, pre, pl, 0, s, 3, false);
    return;
  }
  char body[NF_BODY];
  int bl;
  int prec = sp->prec > NF_MAXPREC ? NF_MAXPREC : sp->prec;
  char lc = (char)(conv | 0x20);
  if (lc == 'a') {
    pre[pl++] = '0';
    pre[pl++] = upper ? 'X' : 'x';
    bl = nf_body_a(body, bits, prec, sp->hash, upper);
    nf_emit(o, sp, pre, pl, 0, body, (size_t)bl, true);
    return;
  }
  if (prec < 0) prec = 6;
  nf_dec_t x;
  if (bits == 0) {
    x.nd = 0;
    x.dexp = 0;
  } else {
    int ex = (int)(bits >> 52);
    uint64_t m = bits & ((UINT64_C(1) << 52) - 1);
    if (ex) m |= UINT64_C(1) << 52;
    nf_exact(m, ex ? ex - 1075 : -1074, &x);
  }
  if (lc == 'e') {
    nf_round(&x, prec + 1);
    bl = nf_body_e(body, &x, prec, sp->hash, upper);
  } else if (lc == 'f') {
    nf_round(&x, x.dexp + prec);
    bl = nf_body_f(body, &x, prec, sp->hash);
  } else { /* g */
    int p = prec == 0 ? 1 : prec;
    nf_round(&x, p);
    int e10 = x.nd ? x.dexp - 1 : 0;
    if (e10 < -4 || e10 >= p)
      bl = nf_body_e(body, &x, p - 1, sp->hash, upper);
    else
      bl = nf_body_f(body, &x, p - 1 - e10, sp->hash);
    if (!sp->hash) { /* drop trailing zeros of the fraction, and a bare point */
      int ep = 0;
      while (ep < bl && body[ep] != 'e' && body[ep] != 'E') ep++;
      if (memchr(body, '.', (size_t)ep)) {
        int k = ep;
        while (body[k - 1] == '0') k--;
        if (body[k - 1] == '.') k--;
        memmove(body + k, body + ep, (size_t)(bl - ep));
        bl -= ep - k;
      }
    }
  }
  nf_emit(o, sp, pre, pl, 0, body, (size_t)bl, true);
}

int numfmt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap) {
  nf_out_t o = {buf, size, 0};
  for (const char *f = fmt; *f; f++) {
    if (*f != '%') {
      nf_putc(&o, *f);
      continue;
    }
    nf_spec_t sp = {false, false, false, false, false, 0, -1};
    for (;; f++) {
      char c = f[1];
      if (c == '-') sp.minus = true;
      else if (c == '+') sp.plus = true;
      else if (c == ' ') sp.space = true;
      else if (c == '#') sp.hash = true;
      else if (c == '0') sp.zero = true;
      else break;
    }
    f++;
    if (*f == '*') {
      sp.width = va_arg(ap, int);
      if (sp.width < 0) {
        sp.minus = true;
        sp.width = -sp.width;
      }
      f++;
    } else {
      while (*f >= '0' && *f <= '9') sp.width = sp.width * 10 + (*f++ - '0');
    }
    if (*f == '.') {
      f++;
      sp.prec = 0;
      if (*f == '*') {
        sp.prec = va_arg(ap, int);
        f++;
      } else {
        while (*f >= '0' && *f <= '9') sp.prec = sp.prec * 10 + (*f++ - '0');
      }
    }
    int len = 0; /* 1: h, 2: hh, 3: l (also z, t), 4: ll (also j) */
    if (*f == 'h') len = (*++f == 'h') ? (f++, 2) : 1;
    else if (*f == 'l') len = (*++f == 'l') ? (f++, 4) : 3;
    else if (*f == 'z' || *f == 't') len = 3, f++;
    else if (*f == 'j') len = 4, f++;
    else if (*f == 'L') f++;
    char conv = *f;
    switch (conv) {
      case 'd':
      case 'i': {
        long long v = len == 4 ? va_arg(ap, long long)
                    : len == 3 ? va_arg(ap, long)
                               : va_arg(ap, int);
        if (len == 1) v = (short)v;
        if (len == 2) v = (signed char)v;
        nf_int(&o, &sp, conv, v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v,
               v < 0);
        break;
      }
      case 'u':
      case 'o':
      case 'x':
      case 'X': {
        unsigned long long v = len == 4 ? va_arg(ap, unsigned long long)
                             : len == 3 ? va_arg(ap, unsigned long)
                                        : va_arg(ap, unsigned);
        if (len == 1) v = (unsigned short)v;
        if (len == 2) v = (unsigned char)v;
        nf_int(&o, &sp, conv, v, false);
        break;
      }
      case 'c': {
        char c = (char)va_arg(ap, int);
        nf_emit(&o, &sp, "", 0, 0, &c, 1, false);
        break;
      }
      case 's': {
        const char *s = va_arg(ap, const char *);
        if (!s) s = "(null)";
        size_t n = 0;
        while (s[n] && (sp.prec < 0 || n < (size_t)sp.prec)) n++;
        nf_emit(&o, &sp, "", 0, 0, s, n, false);
        break;
      }
      case 'p': {
        void *p = va_arg(ap, void *);
        if (!p) {
          nf_emit(&o, &sp, "", 0, 0, "(nil)", 5, false);
        } else {
          sp.hash = true;
          nf_int(&o, &sp, 'x', (uintptr_t)p, false);
        }
        break;
      }
      case 'a': case 'A': case 'e': case 'E': case 'f': case 'F': case 'g': case 'G':
        nf_float(&o, &sp, conv, va_arg(ap, double));
        break;
      case '%':
        nf_putc(&o, '%');
        break;
      case '\0':
        f--; /* format ended inside a conversion */
        break;
      default:
        nf_putc(&o, '%');
        nf_putc(&o, conv);
        break;
    }
  }
  if (size) *o.p = '\0';
  return o.n;
}

int numfmt_snprintf(char *buf, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = numfmt_vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return n;
}

/* ---- decimal to double ---- */

#define NF_SDIG 800   /* significant digits kept; the rest only matter as "nonzero" */
#define NF_BLIMBS 100 /* base 2^32 limbs: the numbers compared stay below 2^2800 */

typedef struct {
  uint32_t w[NF_BLIMBS];
  int n;
} nf_big_t;

static void nf_bmul(nf_big_t *a, uint32_t f, uint32_t add) {
  uint64_t carry = add;
  for (int i = 0; i < a->n; i++) {
    uint64_t t = (uint64_t)a->w[i] * f + carry;
    a->w[i] = (uint32_t)t;
    carry = t >> 32;
  }
  if (carry && a->n < NF_BLIMBS) a->w[a->n++] = (uint32_t)carry;
}

static void nf_bpow5(nf_big_t *a, long k) {
  for (; k >= 13; k -= 13) nf_bmul(a, NF_POW5_13, 0);
  if (k > 0) nf_bmul(a, nf_pow5[k], 0);
}

static void nf_bshl(nf_big_t *a, long k) {
  int words = (int)(k / 32), bits = (int)(k % 32);
  if (a->n == 0) return;
  if (a->n + words + 1 > NF_BLIMBS) words = NF_BLIMBS - a->n - 1; /* cannot happen in range */
  if (bits) {
    uint32_t carry = 0;
    for (int i = 0; i < a->n; i++) {
      uint32_t v = a->w[i];
      a->w[i] = (v << bits) | carry;
      carry = v >> (32 - bits);
    }
    if (carry) a->w[a->n++] = carry;
  }
  if (words) {
    memmove(a->w + words, a->w, (size_t)a->n * sizeof a->w[0]);
    memset(a->w, 0, (size_t)words * sizeof a->w[0]);
    a->n += words;
  }
}

static int nf_bcmp(const nf_big_t *a, const nf_big_t *b) {
  if (a->n != b->n) return a->n < b->n ? -1 : 1;
  for (int i = a->n - 1; i >= 0; i--)
    if (a->w[i] != b->w[i]) return a->w[i] < b->w[i] ? -1 : 1;
  return 0;
}

/* Sign of D*10^dexp minus the midpoint between the doubles with bit
 * patterns `bits` and `bits + 1` (both non-negative). */
static int nf_cmp_mid(const char *dig, int nd, long dexp, uint64_t bits) {
  nf_big_t a, b;
  int ex = (int)(bits >> 52);
  uint64_t m = bits & ((UINT64_C(1) << 52) - 1);
  long e = -1074;
  if (ex) {
    m |= UINT64_C(1) << 52;
    e = ex - 1075;
  }
  /* D * 5^a5 * 2^a2  vs  (2m+1) * 5^b5 * 2^b2 */
  long a5 = dexp > 0 ? dexp : 0, b5 = dexp < 0 ? -dexp : 0;
  long a2 = a5, b2 = (e - 1) + b5;
  if (b2 < 0) {
    a2 -= b2;
    b2 = 0;
  }
  long c = a2 < b2 ? a2 : b2;
  a2 -= c;
  b2 -= c;
  a.n = 0;
  int i = 0, first = nd % 9 ? nd % 9 : 9;
  while (i < nd) {
    uint32_t chunk = 0, scale = 1;
    for (int k = 0; k < first; k++, i++) {
      chunk = chunk * 10 + (uint32_t)(dig[i] - '0');
      scale *= 10;
    }
    if (a.n == 0) {
      if (chunk) {
        a.w[0] = chunk;
        a.n = 1;
      }
    } else {
      nf_bmul(&a, scale, chunk);
    }
    first = 9;
  }
  nf_bpow5(&a, a5);
  nf_bshl(&a, a2);
  uint64_t mid = 2 * m + 1;
  b.w[0] = (uint32_t)mid;
  b.w[1] = (uint32_t)(mid >> 32);
  b.n = b.w[1] ? 2 : 1;
  nf_bpow5(&b, b5);
  nf_bshl(&b, b2);
  return nf_bcmp(&a, &b);
}

static double nf_pow10(double x, long e) {
  static const double p[] = {1e1, 1e2, 1e4, 1e8, 1e16, 1e32, 1e64, 1e128, 1e256};
  bool neg = e < 0;
  if (neg) e = -e;
  for (int i = 0; e && i < 9; i++, e >>= 1)
    if (e & 1) x = neg ? x / p[i] : x * p[i];
  return x;
}

double numfmt_strtod(const char *s, char **end) {
  const char *p = s;
  while (*p == ' ' || (*p >= '\t' && *p <= '\r')) p++;
  bool neg = false;
  if (*p == '+' || *p == '-') neg = *p++ == '-';
  char dig[NF_SDIG + 1];
  int nd = 0;
  long dexp = 0; /* value = D * 10^dexp, D the digits as an integer */
  bool any = false, sticky = false;
  for (; *p >= '0' && *p <= '9'; p++) {
    any = true;
    if (nd == 0 && *p == '0') continue;
    if (nd < NF_SDIG) {
      dig[nd++] = *p;
    } else {
      sticky |= *p != '0';
      dexp++;
    }
  }
  if (*p == '.') {
    for (p++; *p >= '0' && *p <= '9'; p++) {
      any = true;
      if (nd == 0 && *p == '0') {
        dexp--;
      } else if (nd < NF_SDIG) {
        dig[nd++] = *p;
        dexp--;
      } else {
        sticky |= *p != '0';
      }
    }
  }
  if (!any) {
    if (end) *end = (char *)(uintptr_t)s;
    return 0.0;
  }
  if (*p == 'e' || *p == 'E') {
    const char *q = p + 1;
    bool eneg = false;
    if (*q == '+' || *q == '-') eneg = *q++ == '-';
    if (*q >= '0' && *q <= '9') {
      long ex = 0;
      for (; *q >= '0' && *q <= '9'; q++)
        if (ex < 100000) ex = ex * 10 + (*q - '0');
      dexp += eneg ? -ex : ex;
      p = q;
    }
  }
  if (end) *end = (char *)(uintptr_t)p;
  /* Dropped nonzero digits: a trailing 1 stands for them (no midpoint
   * between two doubles has that many digits, so ties stay exact). */
  if (sticky) {
    dig[nd++] = '1';
    dexp--;
  }
  while (nd > 0 && dig[nd - 1] == '0') {
    nd--;
    dexp++;
  }
  double r;
  if (nd == 0 || dexp + nd < -324) {
    r = 0.0;
  } else if (dexp + nd > 310) {
    r = __builtin_inf();
  } else if (nd <= 15 && dexp >= -22 && dexp <= 22) {
    /* D and 10^|dexp| are exact doubles: one correctly rounded operation. */
    static const double exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    uint64_t d = 0;
    for (int i = 0; i < nd; i++) d = d * 10 + (uint64_t)(dig[i] - '0');
    r = dexp < 0 ? (double)d / exact[-dexp] : (double)d * exact[dexp];
  } else {
    int used = nd < 19 ? nd : 19;
    uint64_t d = 0;
    for (int i = 0; i < used; i++) d = d * 10 + (uint64_t)(dig[i] - '0');
    /* Scale from ~1 so intermediate results stay normal. */
    double x = nf_pow10((double)d, -(long)(used - 1));
    long e10 = dexp + nd - 1;
    if (e10 < -300) x = nf_pow10(nf_pow10(x, -300), e10 + 300);
    else x = nf_pow10(x, e10);
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    const uint64_t inf = UINT64_C(0x7FF) << 52;
    if (b > inf) b = inf;
    for (int it = 0; it < 64; it++) {
      if (b < inf) {
        int c = nf_cmp_mid(dig, nd, dexp, b);
        if (c > 0 || (c == 0 && (b & 1))) {
          b++;
          continue;
        }
      }
      if (b > 0) {
        int c = nf_cmp_mid(dig, nd, dexp, b - 1);
        if (c < 0 || (c == 0 && (b & 1))) {
          b--;
          continue;
        }
      }
      break;
    }
    memcpy(&r, &b, sizeof r);
  }
  return neg ? -r : r;
}
