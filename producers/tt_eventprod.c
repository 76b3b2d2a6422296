#include "producers/tt_eventprod.h"

#include <stdlib.h>

#include <librdkafka/rdkafka.h>

#include "producers/tt_kconf.h"
#include "producers/tt_ukey.h"
#include "schemas/tt_codec.h"

/* Slice of a wait for room in a full queue: short, so that delivery
 * reports free room as soon as they arrive. */
#define EVENTPROD_WAIT_SLICE_MS 50
#define EVENTPROD_QUEUE_WAIT_DEFAULT_MS 30000

struct tt_eventprod_s {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    tt_codec_t *codec;
    int queue_wait_ms;
    struct tt_eventprod_stats stats;
    uint8_t buf[TT_CODEC_EVENT_MAX];
};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    tt_eventprod_t *p = opaque;

    (void)rk;
    if (m->err) {
        if (p->stats.failed++ == 0)
            snprintf(p->stats.first_error, sizeof(p->stats.first_error),
                     "%s [%d]: %s", rd_kafka_topic_name(m->rkt),
                     (int)m->partition, rd_kafka_err2str(m->err));
        return;
    }
    p->stats.delivered++;
    p->stats.bytes += m->len;
}

static tt_err_t set_pinned(rd_kafka_conf_t *conf,
                           const struct tt_conf_kafka *kc, char *errstr,
                           size_t errstr_size)
{
    /* Idempotence makes retries neither duplicate nor reorder; it needs
     * acks=all.  murmur2_random is the Java client's keyed partitioner. */
    static const char *const pinned[][2] = {
        {"enable.idempotence", "true"},
        {"acks", "all"},
        {"partitioner", "murmur2_random"},
    };
    tt_err_t err = TT_ERR_OK;

    for (size_t i = 0; i < sizeof(pinned) / sizeof(pinned[0]) && !err; i++)
        err = tt_kconf_require_role(conf, kc, TT_KCONF_PRODUCER,
                                    pinned[i][0], pinned[i][1],
                                    "the event producer (tt_eventprod)",
                                    errstr, errstr_size);
    return err;
}

tt_err_t tt_eventprod_new(tt_eventprod_t **out, const struct tt_conf_kafka *kc,
                          const struct tt_eventprod_opts *opts, char *errstr,
                          size_t errstr_size)
{
    char rderr[512];
    rd_kafka_conf_t *conf;
    tt_eventprod_t *p;
    tt_err_t err;

    *out = NULL;
    if (!opts->topic || !*opts->topic)
        return tt_errf(TT_ERR_INVAL, errstr, errstr_size,
                       "event producer: no topic");
    p = calloc(1, sizeof(*p));
    if (!p)
        return tt_errf(TT_ERR_NOMEM, errstr, errstr_size,
                       "event producer: no memory");
    p->queue_wait_ms = opts->queue_wait_ms > 0
                           ? opts->queue_wait_ms
                           : EVENTPROD_QUEUE_WAIT_DEFAULT_MS;
    err = tt_codec_new(&p->codec, errstr, errstr_size);
    if (err)
        goto out_free;
    err = tt_kconf_new_role(&conf, kc, TT_KCONF_PRODUCER, errstr,
                            errstr_size);
    if (err)
        goto out_codec;
    err = set_pinned(conf, kc, errstr, errstr_size);
    if (err) {
        rd_kafka_conf_destroy(conf);
        goto out_codec;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, p);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rderr, sizeof(rderr));
    if (!p->rk) {
        rd_kafka_conf_destroy(conf);
        err = tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                      "event producer: %s", rderr);
        goto out_codec;
    }
    p->rkt = rd_kafka_topic_new(p->rk, opts->topic, NULL);
    if (!p->rkt) {
        err = tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                      "event producer: topic \"%s\": %s", opts->topic,
                      rd_kafka_err2str(rd_kafka_last_error()));
        goto out_rk;
    }
    *out = p;
    return TT_ERR_OK;
out_rk:
    rd_kafka_destroy(p->rk);
out_codec:
    tt_codec_destroy(p->codec);
out_free:
    free(p);
    return err;
}

/* TT_ERR_KAFKA once a delivery failed or the producer hit a fatal error. */
static tt_err_t check_failed(tt_eventprod_t *p, char *errstr,
                             size_t errstr_size)
{
    char fatal[256];

    if (rd_kafka_fatal_error(p->rk, fatal, sizeof(fatal)))
        return tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                       "fatal producer error: %s", fatal);
    if (p->stats.failed)
        return tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                       "%llu event(s) not delivered, first: %s",
                       (unsigned long long)p->stats.failed,
                       p->stats.first_error);
    return TT_ERR_OK;
}

tt_err_t tt_eventprod_send(tt_eventprod_t *p, const struct tt_event *ev,
                           char *errstr, size_t errstr_size)
{
    uint8_t key[TT_UKEY_LEN];
    rd_kafka_vu_t vus[4];
    rd_kafka_error_t *error;
    size_t len;
    int waited = 0;
    rd_kafka_resp_err_t rerr;
    tt_err_t err;

    rd_kafka_poll(p->rk, 0);
    err = check_failed(p, errstr, errstr_size);
    if (err)
        return err;
    err = tt_codec_encode_event(p->codec, ev, p->buf, sizeof(p->buf), &len,
                                errstr, errstr_size);
    if (err)
        return err;
    tt_ukey_encode(ev->user_id, key);
    /* produceva rather than the RD_KAFKA_V_ macros, whose type checks are
     * GNU statement expressions (clang -Wpedantic warns about them). */
    vus[0].vtype = RD_KAFKA_VTYPE_RKT;
    vus[0].u.rkt = p->rkt;
    vus[1].vtype = RD_KAFKA_VTYPE_KEY;
    vus[1].u.mem.ptr = key;
    vus[1].u.mem.size = sizeof(key);
    vus[2].vtype = RD_KAFKA_VTYPE_VALUE;
    vus[2].u.mem.ptr = p->buf;
    vus[2].u.mem.size = len;
    vus[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vus[3].u.i = RD_KAFKA_MSG_F_COPY;
    for (;;) {
        error = rd_kafka_produceva(p->rk, vus, 4);
        rerr = RD_KAFKA_RESP_ERR_NO_ERROR;
        if (error) {
            rerr = rd_kafka_error_code(error);
            rd_kafka_error_destroy(error);
        }
        if (rerr != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        if (waited == 0)
            p->stats.queue_full++;
        if (waited >= p->queue_wait_ms)
            return tt_errf(TT_ERR_TIMEOUT, errstr, errstr_size,
                           "producer queue still full after %d ms (%d "
                           "events in flight; is the broker reachable?)",
                           waited, rd_kafka_outq_len(p->rk));
        rd_kafka_poll(p->rk, EVENTPROD_WAIT_SLICE_MS);
        waited += EVENTPROD_WAIT_SLICE_MS;
        err = check_failed(p, errstr, errstr_size);
        if (err)
            return err;
    }
    if (rerr == RD_KAFKA_RESP_ERR__FATAL)
        return check_failed(p, errstr, errstr_size);
    if (rerr)
        return tt_errf(TT_ERR_KAFKA, errstr, errstr_size,
                       "producing to \"%s\": %s", rd_kafka_topic_name(p->rkt),
                       rd_kafka_err2str(rerr));
    p->stats.sent++;
    return TT_ERR_OK;
}

tt_err_t tt_eventprod_poll(tt_eventprod_t *p, int timeout_ms, char *errstr,
                           size_t errstr_size)
{
    rd_kafka_poll(p->rk, timeout_ms);
    return check_failed(p, errstr, errstr_size);
}

tt_err_t tt_eventprod_flush(tt_eventprod_t *p, int timeout_ms, char *errstr,
                            size_t errstr_size)
{
    rd_kafka_resp_err_t rerr = rd_kafka_flush(p->rk, timeout_ms);
    tt_err_t err = check_failed(p, errstr, errstr_size);

    if (err)
        return err;
    if (rerr == RD_KAFKA_RESP_ERR__TIMED_OUT)
        return tt_errf(TT_ERR_TIMEOUT, errstr, errstr_size,
                       "%d event(s) still undelivered after %d ms",
                       rd_kafka_outq_len(p->rk), timeout_ms);
    if (rerr)
        return tt_errf(TT_ERR_KAFKA, errstr, errstr_size, "flush: %s",
                       rd_kafka_err2str(rerr));
    return TT_ERR_OK;
}

void tt_eventprod_stats(const tt_eventprod_t *p,
                        struct tt_eventprod_stats *stats)
{
    *stats = p->stats;
}

void tt_eventprod_destroy(tt_eventprod_t *p)
{
    if (!p)
        return;
    /* Without the purge rd_kafka_destroy() would wait for undelivered
     * events up to message.timeout.ms. */
    rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(p->rk, 0);
    rd_kafka_topic_destroy(p->rkt);
    rd_kafka_destroy(p->rk);
    tt_codec_destroy(p->codec);
    free(p);
}
