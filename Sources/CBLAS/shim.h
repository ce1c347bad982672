#include <cblas.h>
// OpenBLAS extension: lets Prism pin BLAS threads so they do not fight its own parallel-for.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
