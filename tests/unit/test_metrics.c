/*
 * Unit tests of consumers/tt_metrics: the Prometheus text rendering
 * (counters, lag series, latency histogram and quantiles), the HTTP
 * endpoint on a loopback port (GET /metrics, 404, 405), bad addresses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "consumers/tt_metrics.h"

static void render_counters_lag_histogram(void **st)
{
    struct tt_conf_metrics mc = {.bind = (char *)"127.0.0.1", .port = 0};
    tt_metrics_t *m;
    static char buf[65536];
    size_t len;

    (void)st;
    assert_int_equal(tt_metrics_new(&m, &mc, NULL, 0), TT_ERR_OK);
    assert_int_equal(tt_metrics_port(m), 0);
    tt_metrics_add(m, TT_M_EVENTS, 41);
    tt_metrics_add(m, TT_M_EVENTS, 1);
    tt_metrics_set(m, TT_M_MODEL_VERSION, 7);
    tt_metrics_set_lag(m, 3, 12);
    tt_metrics_set_lag(m, 5, 0);
    tt_metrics_set_lag(m, 5, -1); /* unassigned: the series goes */
    tt_metrics_set_lag(m, -1, 9); /* ignored */
    tt_metrics_set_lag(m, TT_METRICS_PARTITIONS_MAX, 9);
    for (int i = 0; i < 90; i++)
        tt_metrics_observe_latency(m, 3.0, 1); /* (2, 5] */
    tt_metrics_observe_latency(m, 70.0, 10);   /* (50, 100] */
    assert_int_equal(tt_metrics_get(m, TT_M_EVENTS), 42);
    assert_int_equal(tt_metrics_render(m, buf, sizeof(buf), &len), TT_ERR_OK);
    assert_int_equal(strlen(buf), len);
    assert_non_null(strstr(buf, "\ntwotime_stream_events_total 42\n"));
    assert_non_null(
        strstr(buf, "# TYPE twotime_stream_events_total counter\n"));
    assert_non_null(strstr(buf, "\ntwotime_stream_model_version 7\n"));
    assert_non_null(
        strstr(buf, "twotime_stream_consumer_lag{partition=\"3\"} 12\n"));
    assert_null(strstr(buf, "partition=\"5\""));
    assert_non_null(
        strstr(buf, "twotime_stream_latency_seconds_bucket{le=\"0.002\"} 0\n"));
    assert_non_null(strstr(
        buf, "twotime_stream_latency_seconds_bucket{le=\"0.005\"} 90\n"));
    assert_non_null(
        strstr(buf, "twotime_stream_latency_seconds_bucket{le=\"0.1\"} 100\n"));
    assert_non_null(strstr(
        buf, "twotime_stream_latency_seconds_bucket{le=\"+Inf\"} 100\n"));
    assert_non_null(strstr(buf, "twotime_stream_latency_seconds_count 100\n"));
    /* 50% of 90 in (2, 5] -> about 3.7; 99% in (50, 100] -> 95. */
    assert_true(tt_metrics_latency_quantile(m, 0.5) > 2.0);
    assert_true(tt_metrics_latency_quantile(m, 0.5) <= 5.0);
    assert_true(tt_metrics_latency_quantile(m, 0.99) > 50.0);
    assert_true(tt_metrics_latency_quantile(m, 0.99) <= 100.0);
    /* Too small a buffer says how much is needed. */
    assert_int_equal(tt_metrics_render(m, buf, 100, &len), TT_ERR_OVERFLOW);
    assert_true(len > 100);
    tt_metrics_destroy(m);
    tt_metrics_destroy(NULL);
}

static void quantile_empty_and_overflow(void **st)
{
    struct tt_conf_metrics mc = {.bind = (char *)"", .port = 0};
    tt_metrics_t *m;

    (void)st;
    assert_int_equal(tt_metrics_new(&m, &mc, NULL, 0), TT_ERR_OK);
    assert_true(tt_metrics_latency_quantile(m, 0.99) == 0.0);
    tt_metrics_observe_latency(m, 1e9, 1);
    tt_metrics_observe_latency(m, -5, 1); /* clock skew: counted as 0 */
    assert_true(tt_metrics_latency_quantile(m, 0.99) == 30000.0);
    tt_metrics_destroy(m);
}

/* GET (or another method) on 127.0.0.1:port; the response into buf. */
static size_t http(int port, const char *method, const char *path, char *buf,
                   size_t cap)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char req[256];
    size_t got = 0;
    ssize_t n;

    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    snprintf(req, sizeof(req),
             "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", method,
             path);
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    while (got + 1 < cap && (n = read(fd, buf + got, cap - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = '\0';
    close(fd);
    return got;
}

static void endpoint(void **st)
{
    struct tt_conf_metrics mc = {.bind = (char *)"127.0.0.1"};
    tt_metrics_t *m = NULL;
    static char buf[65536];
    tt_err_t err = TT_ERR_IO;

    (void)st;
    /* A free port in a high range, from the pid so runs do not collide. */
    for (int k = 0; k < 50 && err; k++) {
        mc.port = 20000 + (int)((getpid() * 7 + k * 131) % 30000);
        err = tt_metrics_new(&m, &mc, NULL, 0);
    }
    assert_int_equal(err, TT_ERR_OK);
    assert_int_equal(tt_metrics_port(m), mc.port);
    tt_metrics_add(m, TT_M_TXN_COMMITTED, 5);
    http(mc.port, "GET", "/metrics", buf, sizeof(buf));
    assert_non_null(strstr(buf, "HTTP/1.1 200"));
    assert_non_null(strstr(buf, "text/plain; version=0.0.4"));
    assert_non_null(
        strstr(buf, "\ntwotime_stream_transactions_committed_total 5\n"));
    http(mc.port, "GET", "/nope", buf, sizeof(buf));
    assert_non_null(strstr(buf, "HTTP/1.1 404"));
    http(mc.port, "POST", "/metrics", buf, sizeof(buf));
    assert_non_null(strstr(buf, "HTTP/1.1 405"));
    tt_metrics_destroy(m);
}

static void bad_address(void **st)
{
    struct tt_conf_metrics mc = {.bind = (char *)"not-an-address",
                                 .port = 9};
    tt_metrics_t *m = (tt_metrics_t *)1;
    char err[256];

    (void)st;
    assert_int_equal(tt_metrics_new(&m, &mc, err, sizeof(err)), TT_ERR_CONF);
    assert_null(m);
    assert_non_null(strstr(err, "not-an-address"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(render_counters_lag_histogram),
        cmocka_unit_test(quantile_empty_and_overflow),
        cmocka_unit_test(endpoint),
        cmocka_unit_test(bad_address),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
