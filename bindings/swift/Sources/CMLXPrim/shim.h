/* Reaches the installed header through the include search path (pkg-config's cflags,
 * the compiler's default paths such as /usr/local/include, or -Xcc -I<dir>), so the
 * package never needs to know where the library was installed. */
#include <mlxprim.h>
