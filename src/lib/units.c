#include "units.h"

#include <string.h>

static bool units_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A number at s[*i]: "123", "1.5", ".5" or "5.". The integer part goes to
   *int_r, the fraction digits to *frac_r. -1 on overflow or when there is
   no digit at all. */
static int units_number(struct slice s, size_t *i, uint64_t *int_r, struct slice *frac_r)
{
	size_t int_digits = 0, fstart;
	uint64_t v = 0;

	while (*i < s.len && units_is_digit(s.ptr[*i])) {
		unsigned d = (unsigned)(s.ptr[*i] - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
		(*i)++;
		int_digits++;
	}
	fstart = *i;
	if (*i < s.len && s.ptr[*i] == '.') {
		(*i)++;
		fstart = *i;
		while (*i < s.len && units_is_digit(s.ptr[*i]))
			(*i)++;
	}
	*frac_r = slice_from(s.ptr + fstart, *i - fstart);
	if (int_digits == 0 && frac_r->len == 0)
		return -1; /* no digit at all: "", ".", "s" */
	*int_r = v;
	return 0;
}

/* int * unit + 0.frac * unit, rounded down, overflow checked. Fraction
   digits past the ninth are ignored (below a nanosecond, or a
   billionth of the unit). */
static int units_scale(uint64_t v, struct slice frac, uint64_t unit, uint64_t *out_r)
{
	uint64_t total, f = 0, p = 1, part;

	if (unit != 0 && v > UINT64_MAX / unit)
		return -1;
	total = v * unit;
	for (size_t i = 0; i < frac.len && i < 9; i++) {
		f = f * 10 + (uint64_t)(frac.ptr[i] - '0');
		p *= 10;
	}
	/* f * unit / p without overflow: unit = q * p + r, f < p <= 1e9 */
	part = f * (unit / p) + f * (unit % p) / p;
	if (total > UINT64_MAX - part)
		return -1;
	*out_r = total + part;
	return 0;
}

/* Leading '0' characters of s. */
static size_t units_zeros(struct slice s)
{
	size_t n = 0;

	while (n < s.len && s.ptr[n] == '0')
		n++;
	return n;
}

struct units_unit {
	const char *name;
	uint64_t mult;
};

#define UNITS_NS_PER_MS 1000000ULL

static const struct units_unit units_durations[] = {
	{ "ns", 1ULL },
	{ "us", 1000ULL },
	{ "\xc2\xb5s", 1000ULL }, /* U+00B5 micro sign */
	{ "\xce\xbcs", 1000ULL }, /* U+03BC Greek mu */
	{ "ms", UNITS_NS_PER_MS },
	{ "s", 1000ULL * UNITS_NS_PER_MS },
	{ "m", 60ULL * 1000 * UNITS_NS_PER_MS },
	{ "h", 3600ULL * 1000 * UNITS_NS_PER_MS },
	{ "d", 86400ULL * 1000 * UNITS_NS_PER_MS },
};

int units_parse_duration(struct slice s, uint64_t *ms_r)
{
	uint64_t total_ns = 0;
	bool nonzero = false;
	size_t i = 0;

	if (s.len == 1 && s.ptr[0] == '0') {
		*ms_r = 0;
		return 0;
	}
	if (s.len == 0)
		return -1;
	while (i < s.len) {
		const struct units_unit *u = NULL;
		struct slice frac, name;
		uint64_t v, part;
		size_t ustart;

		if (units_number(s, &i, &v, &frac) < 0)
			return -1;
		nonzero = nonzero || v != 0 || frac.len > units_zeros(frac);
		ustart = i;
		while (i < s.len && !units_is_digit(s.ptr[i]) && s.ptr[i] != '.')
			i++;
		name = slice_from(s.ptr + ustart, i - ustart);
		for (size_t k = 0; k < ARRAY_SIZE(units_durations); k++) {
			if (slice_eq(name, slice_cstr(units_durations[k].name))) {
				u = &units_durations[k];
				break;
			}
		}
		if (u == NULL)
			return -1; /* missing or unknown unit */
		if (units_scale(v, frac, u->mult, &part) < 0 || total_ns > UINT64_MAX - part)
			return -1;
		total_ns += part;
	}
	*ms_r = total_ns / UNITS_NS_PER_MS + (total_ns % UNITS_NS_PER_MS != 0 ? 1 : 0);
	if (*ms_r == 0 && nonzero)
		*ms_r = 1; /* "0.1ns": below the resolution, but not zero */
	return 0;
}

static const struct units_unit units_sizes[] = {
	{ "", 1ULL },
	{ "b", 1ULL },
	{ "k", 1ULL << 10 }, { "kb", 1ULL << 10 }, { "kib", 1ULL << 10 },
	{ "m", 1ULL << 20 }, { "mb", 1ULL << 20 }, { "mib", 1ULL << 20 },
	{ "g", 1ULL << 30 }, { "gb", 1ULL << 30 }, { "gib", 1ULL << 30 },
	{ "t", 1ULL << 40 }, { "tb", 1ULL << 40 }, { "tib", 1ULL << 40 },
};

int units_parse_size(struct slice s, uint64_t *bytes_r)
{
	const struct units_unit *u = NULL;
	struct slice frac, name;
	uint64_t v;
	size_t i = 0, blanks;

	if (units_number(s, &i, &v, &frac) < 0)
		return -1;
	blanks = i;
	while (i < s.len && (s.ptr[i] == ' ' || s.ptr[i] == '\t'))
		i++;
	blanks = i - blanks;
	name = slice_from(s.ptr + i, s.len - i);
	if (name.len == 0 && blanks > 0)
		return -1; /* trailing blanks */
	for (size_t k = 0; k < ARRAY_SIZE(units_sizes); k++) {
		if (slice_eq_ci(name, units_sizes[k].name)) {
			u = &units_sizes[k];
			break;
		}
	}
	if (u == NULL)
		return -1;
	return units_scale(v, frac, u->mult, bytes_r);
}
