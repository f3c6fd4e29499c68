// backend.h — what every backend provides to the shared code in common/: where a context keeps its
// error slot, and the device-independent layout and the context of a model. Each is one line in the
// backend (its NcContext holds an NcErrorSlot; its NcModel derives from nc::ModelLayout).
#pragma once

#include "errors.h"
#include "layout.h"

NcErrorSlot* nc_error_slot(const NcContext* ctx);
const nc::ModelLayout* nc_model_layout(const NcModel* model);
const NcContext* nc_model_context(const NcModel* model);
