// oneDNN's C API (Debian libdnnl-dev, which ships a CMake config but no pkg-config file: hence `link "dnnl"`).
#include <oneapi/dnnl/dnnl.h>
