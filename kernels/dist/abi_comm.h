// abi_comm.h — the part of nanochat.h's communicator calls that kernels/dist does the same way for every
// backend built with it: the 128-byte "NCD1" id naming rank 0's bootstrap store (nc_comm_id_create), its
// check on the joining ranks, the options' timeout, and the host Gloo communicator every rank joins
// (nc_comm_create), and the host sum and barrier over it (nc_comm_allreduce_sum, nc_comm_barrier). The
// backends keep what differs: their NcComm and the device collectives.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "comm.h"
#include "nanochat.h"

namespace nc::dist_abi {

// The options' timeout_ms, or five minutes where it is 0 (or there are no options).
std::chrono::milliseconds comm_timeout(const NcCommOptions* options);

// nc_comm_id_create's work: starts the bootstrap store on this host and writes its NCD1 id to out_id. The
// id advertises options->advertise_host, or this machine's name where that is empty.
int32_t create_comm_id(const NcCommOptions* options, NcCommId* out_id);

// Rejects an id that is not an NCD1 id; backend ("cpu", "cuda") names the backend in the message.
int32_t check_comm_id(const NcContext* ctx, const NcCommId* id, const char* backend);

// Joins the host communicator named by id as rank of world_size (options' timeout and transport_host).
// Every rank joins, a world of one too: that is what lets rank 0's bootstrap store stop at once.
int32_t join_host_comm(const NcContext* ctx, const NcCommId* id, int32_t rank, int32_t world_size,
                       const NcCommOptions* options, std::unique_ptr<nc::dist::Communicator>* out);

// The host double sum and the barrier over host (nc_comm_allreduce_sum, nc_comm_barrier); NC_OK at once
// where host is null (a world of one rank).
int32_t host_allreduce_sum(const NcContext* ctx, nc::dist::Communicator* host, double* inout, int64_t n);
int32_t host_barrier(const NcContext* ctx, nc::dist::Communicator* host);

}  // namespace nc::dist_abi
