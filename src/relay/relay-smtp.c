/* Sending one queued message with libcurl's SMTP client: smtps:// for
   implicit TLS, smtp:// + STARTTLS required, or plain smtp://; AUTH when
   a user name is configured. libcurl dot-stuffs the data itself. */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "relay-private.h"

struct upload {
	const char *data;
	size_t len, pos;
};

static size_t upload_read(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct upload *u = arg;
	size_t n = size * nmemb;

	if (n > u->len - u->pos)
		n = u->len - u->pos;
	memcpy(ptr, u->data + u->pos, n);
	u->pos += n;
	return n;
}

enum relay_send_result relay_smtp_send(const struct relay_smtp *s, const char *from,
				       const char *to, const char *data, size_t len, char *err,
				       size_t err_size)
{
	struct upload up = { .data = data, .len = len };
	struct curl_slist *rcpt = NULL;
	char url[512], mail_from[512], rcpt_to[512], errbuf[CURL_ERROR_SIZE] = "";
	enum relay_send_result ret = RELAY_SENT;
	long code = 0;
	CURLcode rc;
	CURL *h = curl_easy_init();

	if (h == NULL) {
		snprintf(err, err_size, "curl_easy_init failed");
		return RELAY_TEMPFAIL;
	}
	snprintf(url, sizeof(url), "%s://%s", s->tls && !s->starttls ? "smtps" : "smtp",
		 s->host_port);
	snprintf(mail_from, sizeof(mail_from), "<%s>", from);
	snprintf(rcpt_to, sizeof(rcpt_to), "<%s>", to);
	rcpt = curl_slist_append(rcpt, rcpt_to);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, mail_from);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, upload_read);
	curl_easy_setopt(h, CURLOPT_READDATA, &up);
	curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 300L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	if (s->starttls)
		curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (!s->verify) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (s->username != NULL) {
		curl_easy_setopt(h, CURLOPT_USERNAME, s->username);
		curl_easy_setopt(h, CURLOPT_PASSWORD, s->password);
	}
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	if (rc != CURLE_OK) {
		/* a 5xx from the relay is final; everything else may pass */
		ret = code >= 500 && code < 600 ? RELAY_PERMFAIL : RELAY_TEMPFAIL;
		snprintf(err, err_size, "%s (reply %ld): %s", curl_easy_strerror(rc), code,
			 errbuf[0] != '\0' ? errbuf : "-");
	}
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(h);
	return ret;
}
