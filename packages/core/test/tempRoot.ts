import { Effect, FileSystem } from "effect"

/**
 * A temp dir removed with the scope. In RAM (`/dev/shm`) where there is one: the file-system backends do the
 * same renames and syncs there, and the file-system properties run several times faster than on a disk.
 */
export const makeTempRoot = (prefix: string) =>
  FileSystem.FileSystem.use((fs) =>
    Effect.flatMap(fs.exists("/dev/shm").pipe(Effect.orElseSucceed(() => false)), (ram) =>
      fs.makeTempDirectoryScoped({ prefix, ...(ram ? { directory: "/dev/shm" } : {}) })
    )
  )
