/**
 * The strict baseline of a bulk sync: one `INSERT … SELECT` mapping auth.users as the service's
 * default field map does, for the users `where` picks (`a` is auth.users), no audit, no change list.
 */
export const rawProfileInsertSql = (where: string, tail = '') => `
  INSERT INTO public.users (id, email, full_name, avatar_url, phone, role, organization_id)
  SELECT a.id, a.email,
         COALESCE(a.raw_user_meta_data->>'full_name', a.raw_user_meta_data->>'name'),
         COALESCE(a.raw_user_meta_data->>'avatar_url', a.raw_user_meta_data->>'picture'),
         a.phone,
         COALESCE(a.raw_app_meta_data->>'role', a.raw_user_meta_data->>'role'),
         (a.raw_user_meta_data->>'organization_id')::uuid
    FROM auth.users a
   WHERE ${where}
  ${tail}`;
