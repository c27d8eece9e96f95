/*
 * clock.c - wall and monotonic seconds, RFC 3339 text, deadlines.
 */
#include "clock.h"

#include <stdio.h>
#include <string.h>

static double seconds_of(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double clock_wall(void)
{
	return seconds_of(CLOCK_REALTIME);
}

double clock_mono(void)
{
	return seconds_of(CLOCK_MONOTONIC);
}

void clock_format(char *out, size_t len, time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void clock_format_now(char *out, size_t len)
{
	clock_format(out, len, time(NULL));
}

void clock_format_micro(char *out, size_t len, double t)
{
	time_t sec = (time_t)t;
	long usec = (long)((t - (double)sec) * 1e6);
	struct tm tm;
	char base[32];

	if (usec < 0)
		usec = 0;
	if (usec > 999999)
		usec = 999999;
	gmtime_r(&sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, len, "%s.%06ldZ", base, usec);
}

time_t clock_parse(const char *s)
{
	struct tm tm;
	const char *p;
	long off = 0;
	time_t t;

	if (s == NULL)
		return -1;
	memset(&tm, 0, sizeof(tm));
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (p == NULL)
		return -1;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int hh = (p[1] - '0') * 10 + (p[2] - '0'), mm = (p[4] - '0') * 10 + (p[5] - '0');

		off = (hh * 3600L + mm * 60L) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return -1;
	}
	if (*p != '\0')
		return -1;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	return t - off;
}

void clock_deadline(struct timespec *out, clockid_t id, double seconds)
{
	clock_gettime(id, out);
	out->tv_sec += (time_t)seconds;
	out->tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
	if (out->tv_nsec >= 1000000000L) {
		out->tv_sec++;
		out->tv_nsec -= 1000000000L;
	}
}
