/* RFC 5322 §3.3 date-time, with the obsolete forms of §4.3: comments and
   folding anywhere, optional day of week and seconds, 2- and 3-digit years,
   alphabetic zones. Pure: no libc time zone state, no locale. */
#include <string.h>
#include <strings.h>

#include "mime.h"

struct date_lex {
	const char *p, *end;
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* skips blanks, folding, commas and (nested) comments */
static void skip_cfws(struct date_lex *l)
{
	while (l->p < l->end) {
		if (*l->p == ' ' || *l->p == '\t' || *l->p == '\r' || *l->p == '\n' ||
		    *l->p == ',') {
			l->p++;
		} else if (*l->p == '(') {
			unsigned int level = 0;

			for (; l->p < l->end; l->p++) {
				if (*l->p == '\\' && l->p + 1 < l->end)
					l->p++;
				else if (*l->p == '(')
					level++;
				else if (*l->p == ')' && --level == 0)
					break;
			}
			if (l->p < l->end)
				l->p++;
		} else {
			break;
		}
	}
}

/* digits: 1..max of them; -1 when none */
static int lex_number(struct date_lex *l, unsigned int max_digits, unsigned int *digits_r)
{
	int n = 0;
	unsigned int d = 0;

	while (l->p < l->end && is_digit(*l->p) && d < max_digits) {
		n = n * 10 + (*l->p - '0');
		l->p++;
		d++;
	}
	if (d == 0 || (l->p < l->end && is_digit(*l->p)))
		return -1;
	if (digits_r != NULL)
		*digits_r = d;
	return n;
}

static size_t lex_word(struct date_lex *l, const char **word_r)
{
	const char *start = l->p;

	while (l->p < l->end && is_alpha(*l->p))
		l->p++;
	*word_r = start;
	return (size_t)(l->p - start);
}

static int month_of(const char *w, size_t len)
{
	static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";

	if (len < 3)
		return -1;
	for (int i = 0; i < 12; i++) {
		if (strncasecmp(w, months + i * 3, 3) == 0)
			return i + 1;
	}
	return -1;
}

/* zone in minutes east of UTC; unknown names count as +0000 (RFC 5322
   §4.3: military zones are "-0000", i.e. unknown) */
static int zone_of(const char *w, size_t len)
{
	static const struct {
		const char *name;
		int minutes;
	} zones[] = { { "UT", 0 },	   { "UTC", 0 },       { "GMT", 0 },	   { "Z", 0 },
		      { "EST", -5 * 60 }, { "EDT", -4 * 60 }, { "CST", -6 * 60 }, { "CDT", -5 * 60 },
		      { "MST", -7 * 60 }, { "MDT", -6 * 60 }, { "PST", -8 * 60 }, { "PDT", -7 * 60 } };

	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		if (strlen(zones[i].name) == len && strncasecmp(w, zones[i].name, len) == 0)
			return zones[i].minutes;
	}
	return 0;
}

/* days since 1970-01-01 of a proleptic Gregorian date */
static int64_t days_from_civil(int64_t y, unsigned int m, unsigned int d)
{
	int64_t era;
	unsigned int yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned int)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static unsigned int days_in_month(int year, int month)
{
	static const unsigned char days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

int mime_date_parse(struct slice s, int64_t *time_r, int *tz_r)
{
	struct date_lex l = { .p = s.ptr, .end = s.ptr + s.len };
	int day, month, year, hour, min, sec = 0, tz = 0;
	unsigned int ydigits;
	const char *w;
	size_t wlen;

	skip_cfws(&l);
	if (l.p < l.end && is_alpha(*l.p)) {
		/* day of week (any word: it is redundant anyway) */
		(void)lex_word(&l, &w);
		skip_cfws(&l);
	}
	if ((day = lex_number(&l, 2, NULL)) < 1 || day > 31)
		return -1;
	skip_cfws(&l);
	if (l.p < l.end && *l.p == '-')
		l.p++; /* "1-Jan-2020" */
	wlen = lex_word(&l, &w);
	if ((month = month_of(w, wlen)) < 0)
		return -1;
	skip_cfws(&l);
	if (l.p < l.end && *l.p == '-')
		l.p++;
	if ((year = lex_number(&l, 4, &ydigits)) < 0)
		return -1;
	if (ydigits == 2)
		year += year < 50 ? 2000 : 1900;
	else if (ydigits == 3)
		year += 1900;
	if (year < 1900 || day > (int)days_in_month(year, month))
		return -1;
	skip_cfws(&l);
	if ((hour = lex_number(&l, 2, NULL)) < 0 || hour > 23)
		return -1;
	skip_cfws(&l);
	if (l.p >= l.end || *l.p != ':')
		return -1;
	l.p++;
	skip_cfws(&l);
	if ((min = lex_number(&l, 2, NULL)) < 0 || min > 59)
		return -1;
	skip_cfws(&l);
	if (l.p < l.end && *l.p == ':') {
		l.p++;
		skip_cfws(&l);
		if ((sec = lex_number(&l, 2, NULL)) < 0 || sec > 60)
			return -1;
		if (sec == 60)
			sec = 59; /* leap second */
		skip_cfws(&l);
	}
	if (l.p < l.end && (*l.p == '+' || *l.p == '-')) {
		int sign = *l.p == '-' ? -1 : 1, zone;
		unsigned int digits;

		l.p++;
		if ((zone = lex_number(&l, 4, &digits)) < 0 || digits != 4 || zone % 100 > 59)
			return -1;
		tz = sign * ((zone / 100) * 60 + zone % 100);
	} else if (l.p < l.end && is_alpha(*l.p)) {
		wlen = lex_word(&l, &w);
		tz = zone_of(w, wlen);
	}
	*time_r = days_from_civil(year, (unsigned int)month, (unsigned int)day) * 86400 +
		  hour * 3600 + min * 60 + sec - (int64_t)tz * 60;
	*tz_r = tz;
	return 0;
}
