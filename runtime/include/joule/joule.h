// Umbrella header for libjoule users.
#pragma once

#include "joule/dtype.h"
#include "joule/session.h"
#include "joule/status.h"
#include "joule/tensor.h"
