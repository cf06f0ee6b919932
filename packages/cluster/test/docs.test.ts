import * as path from "node:path"
import { docExamples } from "@handoffkit/testing/internal/docExamples"

docExamples(path.resolve(import.meta.dirname, ".."))
