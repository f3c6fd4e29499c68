// tables.cpp — the exported calls that only read a model's device-independent layout: its config, the
// parameter table and the optimizer-state table (NcParamInfo rows). Every backend gets them from here.
#include <cstdio>
#include <cstring>

#include "backend.h"
#include "checks.h"
#include "errors.h"

namespace {

void fill_info(NcParamInfo* info, const std::string& name, const nc::ParamEntry& p, int param_index,
               const int64_t shape[2], int64_t numel, int64_t offset) {
  std::memset(info, 0, sizeof *info);
  std::snprintf(info->name, sizeof info->name, "%s", name.c_str());
  info->ndim = p.ndim;
  info->dtype = NC_DTYPE_F32;
  info->group = p.group;
  info->param_index = param_index;
  info->shape[0] = shape[0];
  info->shape[1] = shape[1];
  info->numel = numel;
  info->offset = offset;
  info->full_numel = p.numel;
}

}  // namespace

extern "C" {

NC_API int32_t nc_model_get_config(const NcModel* m, NcModelConfig* out) {
  NC_CHECK_NOT_NULL(nullptr, m);
  NC_CHECK_NOT_NULL(nc_model_context(m), out);
  *out = nc_model_layout(m)->cfg;
  return NC_OK;
}

NC_API int32_t nc_model_num_params(const NcModel* m, int32_t* out_count) {
  NC_CHECK_NOT_NULL(nullptr, m);
  NC_CHECK_NOT_NULL(nc_model_context(m), out_count);
  *out_count = (int32_t)nc_model_layout(m)->params.size();
  return NC_OK;
}

NC_API int32_t nc_model_param_info(const NcModel* m, int32_t index, NcParamInfo* info) {
  NC_CHECK_NOT_NULL(nullptr, m);
  const NcContext* ctx = nc_model_context(m);
  const nc::ModelLayout& lay = *nc_model_layout(m);
  NC_CHECK_NOT_NULL(ctx, info);
  NC_TRY(nc::check_index(ctx, index, (int64_t)lay.params.size(), "parameter"));
  const nc::ParamEntry& p = lay.params[(size_t)index];
  fill_info(info, p.name, p, index, p.shape, p.numel, 0);
  return NC_OK;
}

NC_API int32_t nc_model_optim_num_states(const NcModel* m, int32_t* out_count) {
  NC_CHECK_NOT_NULL(nullptr, m);
  NC_CHECK_NOT_NULL(nc_model_context(m), out_count);
  *out_count = (int32_t)nc_model_layout(m)->states.size();
  return NC_OK;
}

NC_API int32_t nc_model_optim_state_info(const NcModel* m, int32_t index, NcParamInfo* info) {
  NC_CHECK_NOT_NULL(nullptr, m);
  const NcContext* ctx = nc_model_context(m);
  const nc::ModelLayout& lay = *nc_model_layout(m);
  NC_CHECK_NOT_NULL(ctx, info);
  NC_TRY(nc::check_index(ctx, index, (int64_t)lay.states.size(), "optimizer state"));
  const nc::StateEntry& s = lay.states[(size_t)index];
  fill_info(info, s.name, lay.params[(size_t)s.param_index], s.param_index, s.shape, s.numel, s.param_offset);
  return NC_OK;
}

}  // extern "C"
