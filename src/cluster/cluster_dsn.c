/*
 * cluster_dsn.c - where the DSN comes from, and how it may be logged
 * (cluster.h: cluster_dsn(), cluster_dsn_mask()).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_internal.h"

int cluster_dsn(const struct config_cluster *cfg, char **dsnp, char *err,
		size_t errlen)
{
	const char *env = getenv(CLUSTER_DSN_ENV);
	char line[CONFIG_URL_SIZE];
	FILE *f;

	*dsnp = NULL;
	if (env && *env) {
		*dsnp = strdup(env);
		return *dsnp ? 0 : ENOMEM;
	}
	if (cfg->store_file[0]) {
		f = fopen(cfg->store_file, "re");
		if (!f) {
			int e = errno;

			snprintf(err, errlen, "cluster.store_file: %s: %s",
				 cfg->store_file, strerror(e));
			return e;
		}
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		fclose(f);
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0]) {
			snprintf(err, errlen, "cluster.store_file: %s: empty",
				 cfg->store_file);
			return EINVAL;
		}
		*dsnp = strdup(line);
		explicit_bzero(line, sizeof(line));
		return *dsnp ? 0 : ENOMEM;
	}
	if (cfg->store[0]) {
		*dsnp = strdup(cfg->store);
		return *dsnp ? 0 : ENOMEM;
	}
	return 0;
}

void cluster_dsn_free(char *dsn)
{
	if (!dsn)
		return;
	explicit_bzero(dsn, strlen(dsn));
	free(dsn);
}

/* Append @n bytes of @s to out (size @size, used *len), truncating. */
static void put(char *out, size_t size, size_t *len, const char *s, size_t n)
{
	if (*len + 1 >= size)
		return;
	if (n > size - 1 - *len)
		n = size - 1 - *len;
	memcpy(out + *len, s, n);
	*len += n;
	out[*len] = '\0';
}

void cluster_dsn_mask(const char *dsn, char *out, size_t size)
{
	const char *p = dsn, *at, *colon, *pw;
	size_t len = 0;
	bool uri;

	if (!size)
		return;
	out[0] = '\0';
	uri = !strncmp(dsn, "postgresql://", 13) ||
	      !strncmp(dsn, "postgres://", 11);
	if (uri) {
		const char *auth = strstr(dsn, "://") + 3;
		const char *end = auth + strcspn(auth, "/?");

		at = memchr(auth, '@', (size_t)(end - auth));
		colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
		if (colon) {
			put(out, size, &len, dsn, (size_t)(colon + 1 - dsn));
			put(out, size, &len, "***", 3);
			p = at;
		}
	}
	/* password=... anywhere after (URI query or key=value form) */
	while ((pw = strstr(p, "password="))) {
		const char *v = pw + 9, *e;

		if (uri)
			e = v + strcspn(v, "&");
		else if (*v == '\'') {
			e = v + 1;
			while (*e && *e != '\'')
				e += (*e == '\\' && e[1]) ? 2 : 1;
			if (*e)
				e++;
		} else
			e = v + strcspn(v, " \t");
		put(out, size, &len, p, (size_t)(v - p));
		put(out, size, &len, "***", 3);
		p = e;
	}
	put(out, size, &len, p, strlen(p));
}
