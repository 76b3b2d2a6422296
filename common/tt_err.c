#include "common/tt_err.h"

#include <stdio.h>

static const char *const err_strs[] = {
#define TT_ERR_STR_(name, str) str,
    TT_ERR_TABLE(TT_ERR_STR_)
#undef TT_ERR_STR_
};

static const char *const err_names[] = {
#define TT_ERR_NAME_(name, str) "TT_ERR_" #name,
    TT_ERR_TABLE(TT_ERR_NAME_)
#undef TT_ERR_NAME_
};

const char *tt_err_str(tt_err_t err)
{
    if ((unsigned)err >= TT_ERR__COUNT)
        return "unknown error";
    return err_strs[err];
}

const char *tt_err_name(tt_err_t err)
{
    if ((unsigned)err >= TT_ERR__COUNT)
        return "TT_ERR_UNKNOWN";
    return err_names[err];
}

tt_err_t tt_verrf(tt_err_t err, char *errstr, size_t errstr_size,
                  const char *fmt, va_list ap)
{
    if (errstr && errstr_size > 0)
        vsnprintf(errstr, errstr_size, fmt, ap);
    return err;
}

tt_err_t tt_errf(tt_err_t err, char *errstr, size_t errstr_size,
                 const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    tt_verrf(err, errstr, errstr_size, fmt, ap);
    va_end(ap);
    return err;
}
