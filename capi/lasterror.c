#include <string.h>

#include "mlxprim.h"
#include "lasterror.h"

/* One buffer per OS thread. A C caller's thread runs the Go code of its own call, so the
 * message lands in the caller's buffer; static storage means nothing to free. */
static _Thread_local char last_error[1024];

void mlxpi_set_last_error(const char* msg, size_t len) {
    if (len >= sizeof last_error) {
        len = sizeof last_error - 1;
    }
    memcpy(last_error, msg, len);
    last_error[len] = '\0';
}

const char* mlxp_last_error(void) {
    return last_error;
}
