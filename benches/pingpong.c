/* The floor under mcpi's controller: a plain C MPI master-worker moving empty
 * tasks. Rank 0 hands out N tasks (8 bytes each way) to the other ranks, keeping
 * `inflight` tasks queued per worker, blocking sends and receives. Prints
 * tasks/s. Usage: mpirun -n 3 pingpong [tasks] [inflight] */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>

enum { TASK = 1, STOP = 2 };

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    long tasks = argc > 1 ? atol(argv[1]) : 1000000;
    int inflight = argc > 2 ? atoi(argv[2]) : 1;
    if (size < 2) {
        if (rank == 0) fprintf(stderr, "pingpong: needs at least 2 ranks\n");
        MPI_Finalize();
        return 2;
    }
    if (rank == 0) {
        int workers = size - 1;
        long sent = 0, done = 0;
        uint64_t msg;
        MPI_Status st;
        double t0 = MPI_Wtime();
        for (int k = 0; k < inflight; k++)
            for (int w = 1; w <= workers && sent < tasks; w++) {
                msg = (uint64_t)sent++;
                MPI_Send(&msg, 1, MPI_UINT64_T, w, TASK, MPI_COMM_WORLD);
            }
        while (done < sent) {
            MPI_Recv(&msg, 1, MPI_UINT64_T, MPI_ANY_SOURCE, TASK, MPI_COMM_WORLD, &st);
            done++;
            if (sent < tasks) {
                msg = (uint64_t)sent++;
                MPI_Send(&msg, 1, MPI_UINT64_T, st.MPI_SOURCE, TASK, MPI_COMM_WORLD);
            }
        }
        double t = MPI_Wtime() - t0;
        for (int w = 1; w <= workers; w++)
            MPI_Send(&msg, 1, MPI_UINT64_T, w, STOP, MPI_COMM_WORLD);
        printf("%.0f\n", (double)tasks / t);
    } else {
        uint64_t msg;
        MPI_Status st;
        for (;;) {
            MPI_Recv(&msg, 1, MPI_UINT64_T, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
            if (st.MPI_TAG == STOP) break;
            MPI_Send(&msg, 1, MPI_UINT64_T, 0, TASK, MPI_COMM_WORLD);
        }
    }
    MPI_Finalize();
    return 0;
}
