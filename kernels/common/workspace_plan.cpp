// workspace_plan.cpp — the workspace sizes every backend builds (see workspace_plan.h).
#include "workspace_plan.h"

#include <algorithm>

namespace nc {

bool workspace_serves(const WorkspaceShape& ws, bool allocated, int64_t rows, bool train, bool head) {
  return allocated && ws.rows >= rows && ws.train == train && (ws.chunk_rows > 0 || !head);
}

WorkspacePlan plan_workspace(const ModelLayout& m, const WorkspaceShape& ws, int64_t rows, bool train, bool head) {
  const int64_t N = std::max(rows, ws.train == train ? ws.rows : (int64_t)0);
  const int64_t chunk = head ? std::max<int64_t>(1, std::min<int64_t>(N, kLogitsChunkFloats / m.V)) : 0;
  return {N, chunk, train ? m.L : 1};
}

}  // namespace nc
