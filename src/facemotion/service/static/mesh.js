// The face mesh in the browser, as facemotion.mesh gives it: MediaPipe's 468-point network
// (web/mesh/face_mesh.onnx) run on each face as FaceMesh.run runs it (the same crops: turned,
// scaled and shifted from the box, borders replicated; the refinement passes cut from the points;
// the same limits), then the head pose (the similarity fit of the canonical face on the rigid
// points: Umeyama's optimum, found here by Horn's quaternion) and the action measures on the
// frontalised mesh. Every setting comes from the Python side at export (config.mesh). engine.js
// loads it into its worker: FacemotionMesh.load(settings, model bytes, canonical bytes, ort), then
// locate(mesh, cv, ort, rgb, boxes, angles, previous) and fields(mesh, found, eyes, width, height) per face.
"use strict";

self.FacemotionMesh = (() => {
  const f32 = Math.fround, RAD = Math.PI / 180, DEG = 180 / Math.PI;

  // a .npy file of float16 (the canonical face, 468 x 3) -> its values, exactly, as float64
  function npyFloat16(bytes) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), major = bytes[6];
    const hlen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true), start = (major === 1 ? 10 : 12) + hlen;
    const header = new TextDecoder().decode(bytes.subarray(start - hlen, start));
    if (!header.includes("'<f2'") || header.includes("'fortran_order': True")) throw new Error(`not float16: ${header}`);
    const out = new Float64Array((bytes.length - start) / 2);
    for (let i = 0; i < out.length; i++) {
      const h = view.getUint16(start + 2 * i, true), e = (h >> 10) & 31, m = h & 1023, sign = h >> 15 ? -1 : 1;
      out[i] = sign * (e === 0 ? m * 2 ** -24 : e === 31 ? (m ? NaN : Infinity) : (1024 + m) * 2 ** (e - 25));
    }
    return out;
  }

  async function load(settings, modelBytes, canonicalBytes, ort) {
    const canonical = npyFloat16(canonicalBytes);
    if (canonical.length !== 3 * settings.points) throw new Error(`${settings.canonical}: not ${settings.points} x 3 points`);
    const s = await ort.InferenceSession.create(modelBytes, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
    return { ...settings, s, canonical };
  }

  // ---- the crops: mesh.model's crop_transform, box_transform, points_transform, turn, inside_share ----
  // cv2.getRotationMatrix2D (its centre a float32 Point2f) about the centre by -angle, scaled to
  // size / side, then the centre moved to the crop's: a 2x3 matrix, row after row
  function cropTransform(mesh, [cx, cy], side, angle) {
    const n = mesh.input_size, a = -angle * RAD, k = n / side, al = Math.cos(a) * k, be = Math.sin(a) * k;
    const fx = f32(cx), fy = f32(cy);
    return [al, be, ((1 - al) * fx - be * fy) + (n / 2 - cx), -be, al, (be * fx + (1 - al) * fy) + (n / 2 - cy)];
  }

  // the first crop, from a detector's box: crop_scale box sides, its centre crop_shift sides below
  // the box's along the face's own vertical (a face leaning counter-clockwise: its chin to the right)
  function boxTransform(mesh, [x, y, w, h], angle) {
    const side = Math.max(w, h), a = angle * RAD;
    const cx = x + w / 2 + mesh.crop_shift * side * Math.sin(a), cy = y + h / 2 + mesh.crop_shift * side * Math.cos(a);
    return cropTransform(mesh, [cx, cy], mesh.crop_scale * side, angle);
  }

  // MediaPipe's tracking crop from points (image pixels, flat x, y, z): level along the outer eye
  // corners, centred on the points' extent seen level, track_scale times its larger side. ``single``:
  // the points are a pass's float32 ones (Python's eye line then in float32), else a previous frame's
  function pointsTransform(mesh, p, single) {
    const [r, l] = mesh.eye_outer;
    let dx = p[3 * l] - p[3 * r], dy = p[3 * l + 1] - p[3 * r + 1], angle;
    if (single) {
      dx = f32(dx);
      dy = f32(dy);
      angle = f32(f32(Math.atan2(-dy, dx)) * f32(DEG));
    } else {
      angle = Math.atan2(-dy, dx) * DEG;
    }
    const a = angle * RAD, c = Math.cos(a), s = Math.sin(a);
    let lx = Infinity, ly = Infinity, hx = -Infinity, hy = -Infinity;
    for (let i = 0; i < p.length; i += 3) {
      const u = p[i] * c + p[i + 1] * -s, v = p[i] * s + p[i + 1] * c;
      lx = Math.min(lx, u); hx = Math.max(hx, u); ly = Math.min(ly, v); hy = Math.max(hy, v);
    }
    const mx = (lx + hx) / 2, my = (ly + hy) / 2;
    return cropTransform(mesh, [mx * c + my * s, mx * -s + my * c], mesh.track_scale * Math.max(hx - lx, hy - ly), angle);
  }

  // the angle in degrees between two crops' transforms (Python's modulo: the result in [-180, 180))
  function turn(m, ref) {
    const d = (Math.atan2(m[3], m[0]) - Math.atan2(ref[3], ref[0])) * DEG;
    return ((((d + 180) % 360) + 360) % 360) - 180;
  }

  // cv2.invertAffineTransform
  function invert(m) {
    let D = m[0] * m[4] - m[1] * m[3];
    D = D !== 0 ? 1 / D : 0;
    const a11 = m[4] * D, a22 = m[0] * D, a12 = -m[1] * D, a21 = -m[3] * D;
    return [a11, a12, -a11 * m[2] - a12 * m[5], a21, a22, -a21 * m[2] - a22 * m[5]];
  }

  // the share of the crop whose pixels come from inside the picture (a grid of points)
  function insideShare(mesh, m, W, H) {
    const inv = invert(m), g = mesh.inside_grid, n = mesh.input_size;
    let inside = 0;
    for (let r = 0; r < g; r++) {
      for (let c = 0; c < g; c++) {
        const u = (c + 0.5) * n / g, v = (r + 0.5) * n / g;
        const x = inv[0] * u + inv[1] * v + inv[2], y = inv[3] * u + inv[4] * v + inv[5];
        inside += x >= 0 && x < W && y >= 0 && y < H;
      }
    }
    return inside / (g * g);
  }

  // ---- the network: the crops (RGB in [0, 1], float32) in one call -> points in image pixels ----
  async function pass(mesh, cv, ort, rgb, transforms) {
    const n = mesh.input_size, k = n * n * 3, data = new Float32Array(transforms.length * k), S = f32(1 / 255);
    const crop = new cv.Mat();
    try {
      transforms.forEach((t, i) => {
        const m = cv.matFromArray(2, 3, cv.CV_64F, t);
        try {
          cv.warpAffine(rgb, crop, m, new cv.Size(n, n), cv.INTER_LINEAR, cv.BORDER_REPLICATE, new cv.Scalar());
        } finally {
          m.delete();
        }
        const px = crop.data;
        for (let j = 0; j < k; j++) data[i * k + j] = px[j] * S;  // float32 on storing: numpy's float32 product
      });
    } finally {
      crop.delete();
    }
    const s = mesh.s, out = await s.run({ [s.inputNames[0]]: new ort.Tensor("float32", data, [transforms.length, n, n, 3]) });
    const marks = out[s.outputNames[0]].data, logit = out[s.outputNames[1]].data, P = 3 * mesh.points;
    const points = transforms.map((t, i) => {
      const inv = invert(t), z = Math.hypot(inv[0], inv[3]), q = new Float32Array(P);  // float32, as Python's
      for (let j = 0; j < P; j += 3) {
        const u = marks[i * P + j], v = marks[i * P + j + 1];
        q[j] = u * inv[0] + v * inv[1] + inv[2];
        q[j + 1] = u * inv[3] + v * inv[4] + inv[5];
        q[j + 2] = marks[i * P + j + 2] * z;
      }
      return q;
    });
    return { points, presence: transforms.map((_, i) => f32(1 / (1 + Math.exp(-logit[i])))) };
  }

  // FaceMesh.locate: per box, {landmarks (flat float32, image pixels), presence}, or null for a face
  // too small or mostly outside the picture. ``angles``: each face's lean (degrees; null: none),
  // turning its first crop; ``previous``: per box, its points in the previous frame (or null),
  // which place its crop in one pass
  async function locate(mesh, cv, ort, rgb, boxes, angles = null, previous = null) {
    const W = rgb.cols, H = rgb.rows, lean = (i) => (angles && angles[i] != null ? angles[i] : 0);
    const todo = [], transforms = [], tracked = new Set();
    boxes.forEach((box, i) => {
      if (Math.max(box[2], box[3]) < mesh.min_face_px) return;
      const last = previous ? previous[i] : null;
      const m = last ? pointsTransform(mesh, last, false) : boxTransform(mesh, box, lean(i));
      if (insideShare(mesh, m, W, H) < mesh.min_inside) return;
      if (last) tracked.add(todo.length);
      todo.push(i);
      transforms.push(m);
    });
    const { points, presence } = await pass(mesh, cv, ort, rgb, transforms);
    const update = (js, ms, r) => js.forEach((j, n) => {
      points[j] = r.points[n];
      presence[j] = r.presence[n];
      transforms[j] = ms[n];
    });
    // a tracked face its previous points lost starts again from its box, as a new face does
    const lost = [...tracked].filter((j) => presence[j] < mesh.presence_threshold);
    if (lost.length) {
      const redo = lost.map((j) => boxTransform(mesh, boxes[todo[j]], lean(todo[j])));
      update(lost, redo, await pass(mesh, cv, ort, rgb, redo));
      lost.forEach((j) => tracked.delete(j));
    }
    // the refinement passes: the crop cut again from the points; after the first, only for a face
    // whose crop would still turn by more than refine_degrees
    let again = todo.map((_, j) => j).filter((j) => !tracked.has(j));
    for (let k = 0; k < mesh.refine && again.length; k++) {
      let next = again.map((j) => [j, pointsTransform(mesh, points[j], true)]);
      if (k) next = next.filter(([j, m]) => Math.abs(turn(m, transforms[j])) > mesh.refine_degrees);
      again = next.map(([j]) => j);
      if (again.length) {
        const ms = next.map(([, m]) => m);
        update(again, ms, await pass(mesh, cv, ort, rgb, ms));
      }
    }
    const out = boxes.map(() => null);
    todo.forEach((i, j) => { out[i] = { landmarks: points[j], presence: presence[j] }; });
    return out;
  }

  // ---- the pose: mesh.pose's rigid_fit (Umeyama), rotation_angles ----
  // the eigenvector of the largest eigenvalue of a symmetric 4x4 matrix (cyclic Jacobi)
  function topEigenvector(A) {
    const a = A.map((row) => row.slice()), v = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]];
    for (let sweep = 0; sweep < 60; sweep++) {
      let off = 0, all = 0;
      for (let p = 0; p < 4; p++) for (let q = 0; q < 4; q++) { all += a[p][q] ** 2; if (p !== q) off += a[p][q] ** 2; }
      if (off <= 1e-30 * all) break;
      for (let p = 0; p < 3; p++) {
        for (let q = p + 1; q < 4; q++) {
          if (a[p][q] === 0) continue;
          const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
          const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
          const c = 1 / Math.sqrt(t * t + 1), s = t * c;
          for (const m of [a, v]) {  // columns p and q turned
            for (let k = 0; k < 4; k++) {
              const mp = m[k][p], mq = m[k][q];
              m[k][p] = c * mp - s * mq;
              m[k][q] = s * mp + c * mq;
            }
          }
          for (let k = 0; k < 4; k++) {  // and rows p and q: a <- J^T a J
            const ap = a[p][k], aq = a[q][k];
            a[p][k] = c * ap - s * aq;
            a[q][k] = s * ap + c * aq;
          }
        }
      }
    }
    let best = 0;
    for (let k = 1; k < 4; k++) if (a[k][k] > a[best][best]) best = k;
    return v.map((row) => row[best]);
  }

  // the canonical face fitted onto the mesh's rigid points: points ~ scale * R canonical + shift.
  // The rotation maximising trace(R^T S), S the weighted cross-covariance, is Umeyama's (SVD, no
  // reflection); Horn's quaternion finds the same one (the top eigenvector of a 4x4 matrix)
  function rigidFit(mesh, p) {
    const idx = mesh.rigid, C = mesh.canonical, w = 1 / idx.length;
    const ms = [0, 0, 0], md = [0, 0, 0];
    for (const i of idx) for (let d = 0; d < 3; d++) { ms[d] += w * C[3 * i + d]; md[d] += w * p[3 * i + d]; }
    const S = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];  // S[i][j] = sum w b_i a_j (b: the mesh, a: the canonical face)
    let spread = 0;
    for (const i of idx) {
      const a = [0, 1, 2].map((d) => C[3 * i + d] - ms[d]), b = [0, 1, 2].map((d) => p[3 * i + d] - md[d]);
      for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) S[r][c] += b[r] * w * a[c];
      spread += w * (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]);
    }
    const M = (i, j) => S[j][i];  // Horn's sums: source coordinate i times target coordinate j
    const [qw, qx, qy, qz] = topEigenvector([
      [M(0, 0) + M(1, 1) + M(2, 2), M(1, 2) - M(2, 1), M(2, 0) - M(0, 2), M(0, 1) - M(1, 0)],
      [M(1, 2) - M(2, 1), M(0, 0) - M(1, 1) - M(2, 2), M(0, 1) + M(1, 0), M(2, 0) + M(0, 2)],
      [M(2, 0) - M(0, 2), M(0, 1) + M(1, 0), -M(0, 0) + M(1, 1) - M(2, 2), M(1, 2) + M(2, 1)],
      [M(0, 1) - M(1, 0), M(2, 0) + M(0, 2), M(1, 2) + M(2, 1), -M(0, 0) - M(1, 1) + M(2, 2)]]);
    const n = qw * qw + qx * qx + qy * qy + qz * qz;
    const R = [[qw * qw + qx * qx - qy * qy - qz * qz, 2 * (qx * qy - qw * qz), 2 * (qx * qz + qw * qy)],
               [2 * (qx * qy + qw * qz), qw * qw - qx * qx + qy * qy - qz * qz, 2 * (qy * qz - qw * qx)],
               [2 * (qx * qz - qw * qy), 2 * (qy * qz + qw * qx), qw * qw - qx * qx - qy * qy + qz * qz]]
      .map((row) => row.map((x) => x / n));
    let trace = 0;
    for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) trace += R[r][c] * S[r][c];
    const scale = trace / spread;
    const shift = [0, 1, 2].map((r) => md[r] - scale * (R[r][0] * ms[0] + R[r][1] * ms[1] + R[r][2] * ms[2]));
    return { scale, R, shift };
  }

  // {yaw, pitch, roll} in degrees of the fit's rotation (R = Rz(-roll) Ry(-yaw) Rx(-pitch))
  function pose({ R }) {
    const b = Math.asin(Math.min(1, Math.max(-1, -R[2][0]))), a = Math.atan2(R[2][1], R[2][2]);
    const c = Math.atan2(R[1][0], R[0][0]);
    return { yaw: -b * DEG, pitch: -a * DEG, roll: -c * DEG };
  }

  // ---- the measures: mesh.measures' raw_measures on the frontalised mesh, less the canonical face's ----
  function measures(mesh, p, fit) {
    const { scale, R, shift } = fit, P = p.length / 3, q = new Float64Array(p.length);
    for (let i = 0; i < P; i++) {  // (points - shift) @ R / scale: the pose undone
      const d = [p[3 * i] - shift[0], p[3 * i + 1] - shift[1], p[3 * i + 2] - shift[2]];
      for (let c = 0; c < 3; c++) q[3 * i + c] = (d[0] * R[0][c] + d[1] * R[1][c] + d[2] * R[2][c]) / scale;
    }
    const m = mesh.measures, X = (i) => q[3 * i], mean = (f, ids) => ids.reduce((s, i) => s + f(i), 0) / ids.length;
    const [re0, re1, reUp, reLow] = m.right_eye, [le0, le1, leUp, leLow] = m.left_eye;
    const eyes = Math.hypot(mean(X, [le0, le1]) - mean(X, [re0, re1]),
                            mean((i) => q[3 * i + 1], [le0, le1]) - mean((i) => q[3 * i + 1], [re0, re1]));
    const Y = (i) => q[3 * i + 1] / eyes, Xe = (i) => q[3 * i] / eyes;  // in eye distances
    const [rc, lc] = m.mouth_corners, [top, innerUp, innerLow, bottom] = m.lip_middle;
    const [rw, lw] = m.nose_wings, rbIn = m.right_brow[m.right_brow.length - 1], lbIn = m.left_brow[m.left_brow.length - 1];
    const lift = mean(Y, m.lip_middle) - mean(Y, [rc, lc]);
    const width = Math.hypot(Xe(lc) - Xe(rc), Y(lc) - Y(rc));
    const rEye = mean(Y, [re0, re1]), lEye = mean(Y, [le0, le1]);
    const lids = (rEye - Y(reLow) + lEye - Y(leLow)) / 2;
    const innerApart = Xe(lbIn) - Xe(rbIn), innerHeight = (Y(re1) - Y(rbIn) + Y(le1) - Y(lbIn)) / 2;
    const lips = (Y(bottom) - Y(top)) - (Y(innerLow) - Y(innerUp));
    const wings = (Y(rw) - Y(re1) + Y(lw) - Y(le1)) / 2;
    const raw = {
      smile: m.smile_lift_weight * lift + width + m.smile_lids_weight * lids,
      mouth_open: Y(innerLow) - Y(innerUp),
      left_eye_open: Y(leLow) - Y(leUp),
      right_eye_open: Y(reLow) - Y(reUp),
      brow_raise: (rEye - mean(Y, m.right_brow) + lEye - mean(Y, m.left_brow)) / 2,
      brow_furrow: -innerApart - innerHeight,
      lip_press: -lips,
      nose_wrinkle: -wings,
    };
    return Object.fromEntries(m.names.map((k) => [k, raw[k] - m.neutral[k]]));
  }

  // measures.outside: a measure reading a point beyond the picture (past its edge pixels' outer edges) is
  // null, as the network only guesses where such a point would be
  function withinPicture(mesh, p, values, width, height) {
    const off = (i) => p[3 * i] < -0.5 || p[3 * i + 1] < -0.5 || p[3 * i] > width - 0.5 || p[3 * i + 1] > height - 0.5;
    const given = ([k, v]) => [k, mesh.measures.points[k].some(off) ? null : v];
    return Object.fromEntries(Object.entries(values).map(given));
  }

  // x rounded to d decimals, halves to even (numpy's round)
  function rounded(x, d) {
    const k = 10 ** d, y = x * k, r = Math.round(y);
    return (r - y === 0.5 && r % 2 !== 0 ? r - 1 : r) / k;
  }

  // model.eyes_off: how far the mesh's eye centres lie from the detector's two eye points (the image's
  // left one first), the farther of the two, in the mesh's eye distances
  function eyesOff(mesh, p, eyes) {
    const centre = (idx) => [0, 1].map((k) => idx.reduce((t, i) => t + p[3 * i + k], 0) / idx.length);
    const [r, l] = mesh.eye_outlines.map(centre);
    const apart = Math.max(Math.hypot(l[0] - r[0], l[1] - r[1]), 1e-6);
    return Math.max(Math.hypot(eyes[0][0] - r[0], eyes[0][1] - r[1]), Math.hypot(eyes[1][0] - l[0], eyes[1][1] - l[1])) / apart;
  }

  // a face's record fields, as results.mesh_fields writes them (null in each without a mesh; under the
  // presence threshold, or with its eyes off the detector's, only mesh_presence: FaceMesh.run's present)
  function fields(mesh, found, eyes, width, height) {
    if (!found) return { landmarks: null, mesh_presence: null, pose: null, measures: null };
    const presence = rounded(found.presence, mesh.decimals.mesh_presence);
    if (!(found.presence >= mesh.presence_threshold) || (eyes && eyesOff(mesh, found.landmarks, eyes) > mesh.eyes_agree)) {
      return { landmarks: null, mesh_presence: presence, pose: null, measures: null };
    }
    const p = found.landmarks, fit = rigidFit(mesh, p), d = mesh.decimals, landmarks = [];
    for (let i = 0; i < p.length; i += 3) landmarks.push([p[i], p[i + 1], p[i + 2]].map((v) => rounded(v, d.landmarks)));
    const each = (o, k) => Object.fromEntries(Object.entries(o).map(([n, v]) => [n, v === null ? null
                                                                                                 : rounded(v, k)]));
    return { landmarks, mesh_presence: presence, pose: each(pose(fit), d.pose),
             measures: each(withinPicture(mesh, p, measures(mesh, p, fit), width, height), d.measures) };
  }

  return { load, locate, fields, rigidFit, pose, measures, npyFloat16 };
})();
