/* The device's command queues: a pool of idle in-order queues for command buffers (timed and
 * untimed kept apart), and one queue for the library's blocking transfers. */
#include "config.h"

#include "internal.h"

mpscl_status
mpscl__device_take_queue(mpscl_device *d, int untimed, cl_command_queue *out)
{
    cl_int err = CL_SUCCESS;

    pthread_mutex_lock(&d->lock);
    *out = d->queues_pooled[untimed] > 0 ? d->queue_pool[untimed][--d->queues_pooled[untimed]]
                                         : NULL;
    pthread_mutex_unlock(&d->lock);
    if (*out != NULL)
        return MPSCL_SUCCESS;
    /* Profiling gives the GPU start and end times; NVIDIA charges about 6 us per launch for it. */
    *out = clCreateCommandQueue(d->context, d->device, untimed ? 0 : CL_QUEUE_PROFILING_ENABLE,
                                &err);
    if (err != CL_SUCCESS) {
        *out = NULL;
        return mpscl__fail_cl(err, "clCreateCommandQueue");
    }
    return MPSCL_SUCCESS;
}

void
mpscl__device_return_queue(mpscl_device *d, int untimed, cl_command_queue q)
{
    pthread_mutex_lock(&d->lock);
    if (d->queues_pooled[untimed] < sizeof d->queue_pool[0] / sizeof d->queue_pool[0][0]) {
        d->queue_pool[untimed][d->queues_pooled[untimed]++] = q;
        q = NULL;
    }
    pthread_mutex_unlock(&d->lock);
    if (q != NULL)
        mpscl__check_cl(clReleaseCommandQueue(q), "clReleaseCommandQueue");
}

mpscl_status
mpscl__device_transfer_queue(mpscl_device *d, cl_command_queue *out)
{
    cl_int err = CL_SUCCESS;

    pthread_mutex_lock(&d->lock);
    if (d->transfer_queue == NULL)
        d->transfer_queue = clCreateCommandQueue(d->context, d->device, 0, &err);
    *out = d->transfer_queue;
    pthread_mutex_unlock(&d->lock);
    if (err != CL_SUCCESS) {
        *out = NULL;
        return mpscl__fail_cl(err, "clCreateCommandQueue");
    }
    return MPSCL_SUCCESS;
}

void
mpscl__device_release_queues(mpscl_device *d)
{
    for (size_t u = 0; u < 2; u++)
        for (size_t i = 0; i < d->queues_pooled[u]; i++)
            mpscl__check_cl(clReleaseCommandQueue(d->queue_pool[u][i]), "clReleaseCommandQueue");
    d->queues_pooled[0] = d->queues_pooled[1] = 0;
    if (d->transfer_queue != NULL)
        mpscl__check_cl(clReleaseCommandQueue(d->transfer_queue), "clReleaseCommandQueue");
    d->transfer_queue = NULL;
}
